# SPDX-License-Identifier: MIT
"""Delivery status notifications (RFC 3461/3464), parsed back field by
field from the sender's Maildir (the sender is a local virtual mailbox,
so every notice lands where the test can read it).

A notice is sent with the null sender (Return-Path: <>), is a
multipart/report; report-type=delivery-status with a text/plain part, a
message/delivery-status part (Reporting-MTA, Arrival-Date,
Original-Envelope-Id when ENVID was given; per recipient Final-Recipient,
Original-Recipient when ORCPT was given, Action, Status, Diagnostic-Code
when the remote said something) and the original message
(message/rfc822, RET=FULL) or its headers (text/rfc822-headers,
RET=HDRS).  NOTIFY=NEVER: no notice.  NOTIFY=SUCCESS: a success notice
(Action: delivered).  A notice that cannot be delivered itself is tried
once and never bounced again (no loop).
"""

import re
import smtplib

from delivery_e2e import (Dsn, ERROR_DOMAIN, ERROR_TEXT, LMTP_DOMAIN, PROC,
                          QUEUE_ID, SENDER, VDOMAIN, agent_log_re,
                          check_dsn_structure, header_block, make_message,
                          read_bytes, settle, token)

ALICE = "alice@" + VDOMAIN
POSTMASTER = "postmaster@" + VDOMAIN


def check_null_sender_delivery(dsn):
    lines = dsn.raw.split(b"\n")
    assert lines[0] == b"Return-Path: <>", \
        "a notice must come from the null sender: %r" % lines[:3]
    heads = header_block(dsn.raw)
    assert any(h.lower().startswith(b"from:") for h in heads), heads
    assert any(h.lower().startswith(b"subject:") for h in heads), heads


def test_bounce_ret_full_envid_orcpt(delivery):
    d = delivery().start()
    tok = token()
    envid = "env-" + tok
    x = "x@" + ERROR_DOMAIN
    y = "y@" + ERROR_DOMAIN
    orcpt = "orig-x@example.org"
    d.send([x, y], make_message(tok, to=x),
           mail_opts=["RET=FULL", "ENVID=" + envid],
           rcpt_opts={x: ["NOTIFY=FAILURE", "ORCPT=rfc822;" + orcpt],
                      y: []})
    dsn = d.wait_dsn(SENDER, tok)
    check_null_sender_delivery(dsn)
    check_dsn_structure(dsn)
    assert dsn.per_message.get("original-envelope-id") == envid, \
        dsn.describe()
    rx = dsn.recipient(x)
    assert rx.get("action") == "failed", dsn.describe()
    assert rx.get("status", "").startswith("5."), dsn.describe()
    t, a = [s.strip() for s in rx.get("original-recipient", "").split(";", 1)]
    assert (t.lower(), a) == ("rfc822", orcpt), \
        "Original-Recipient should carry ORCPT:\n" + dsn.describe()
    ry = dsn.recipient(y)
    assert ry.get("action") == "failed", dsn.describe()
    assert len(dsn.per_recipient) == 2, dsn.describe()
    # RET=FULL: the whole message comes back.
    assert dsn.returned_type == "message/rfc822", dsn.describe()
    assert ("Hello, this is %s." % tok).encode() in dsn.returned, \
        dsn.describe()
    assert ("Subject: delivery test %s" % tok).encode() in dsn.returned
    assert x in dsn.text or ERROR_TEXT in dsn.text, \
        "the human-readable part should name the failure:\n" + dsn.text
    # One notice for both recipients.
    d.wait_queue_empty()
    assert len(d.messages(SENDER)) == 1, d.diag()
    d.wait_log(agent_log_re(x, "bounced", re.escape(ERROR_TEXT)))
    d.wait_log(agent_log_re(y, "bounced", re.escape(ERROR_TEXT)))


def test_bounce_ret_hdrs(delivery):
    d = delivery().start()
    tok = token()
    x = "x@" + ERROR_DOMAIN
    d.send(x, make_message(tok, to=x), mail_opts=["RET=HDRS"])
    dsn = d.wait_dsn(SENDER, tok)
    check_null_sender_delivery(dsn)
    check_dsn_structure(dsn)
    assert "original-envelope-id" not in dsn.per_message, dsn.describe()
    rx = dsn.recipient(x)
    assert "original-recipient" not in rx or \
        rx["original-recipient"].split(";", 1)[-1].strip() == x, \
        dsn.describe()
    assert dsn.returned_type == "text/rfc822-headers", dsn.describe()
    assert ("Subject: delivery test %s" % tok).encode() in dsn.returned
    assert ("Hello, this is %s." % tok).encode() not in dsn.returned, \
        "RET=HDRS must not return the body:\n" + dsn.describe()


def test_lmtp_replies_in_diagnostic_code(delivery, lmtp_server):
    srv = lmtp_server()
    d = delivery()
    d.route(LMTP_DOMAIN, "lmtp:" + srv.nexthop)
    d.start()
    tok = token()
    x = "x@" + LMTP_DOMAIN
    y = "y@" + LMTP_DOMAIN
    ok = "ok@" + LMTP_DOMAIN
    srv.rule(x, "550 5.1.1 <%s>: no such user here %s" % (x, tok))
    srv.rule(y, "552 5.2.2 <%s>: mailbox full %s" % (y, tok), stage="data")
    d.send([x, y, ok], make_message(tok, to=x))
    dsn = d.wait_dsn(SENDER, tok)
    check_dsn_structure(dsn)
    rx, ry = dsn.recipient(x), dsn.recipient(y)
    assert rx.get("status") == "5.1.1", dsn.describe()
    assert ry.get("status") == "5.2.2", dsn.describe()
    assert re.match(r"\w+; *550 5\.1\.1 <%s>: no such user here %s"
                    % (re.escape(x), tok), rx.get("diagnostic-code", "")), \
        dsn.describe()
    assert re.match(r"\w+; *552 5\.2\.2 <%s>: mailbox full %s"
                    % (re.escape(y), tok), ry.get("diagnostic-code", "")), \
        dsn.describe()
    assert all(r.get("action") == "failed" for r in dsn.per_recipient)
    assert len(dsn.per_recipient) == 2, \
        "the delivered recipient must not be in the bounce:\n" \
        + dsn.describe()
    assert srv.delivered(ok) == 1
    d.wait_log(agent_log_re(x, "bounced", r"[^)]*no such user here"))
    d.wait_log(agent_log_re(y, "bounced", r"[^)]*mailbox full"))


def test_virtual_unknown_user_bounces(delivery):
    d = delivery()
    # Let smtpd accept it, so that the virtual agent has to say no.
    d.params["smtpd_reject_unlisted_recipient"] = "no"
    d.start()
    tok = token()
    ghost = "ghost@" + VDOMAIN
    d.send(ghost, make_message(tok, to=ghost))
    d.wait_log(agent_log_re(ghost, "bounced", r"[^)]*unknown"))
    dsn = d.wait_dsn(SENDER, tok)
    check_dsn_structure(dsn)
    r = dsn.recipient(ghost)
    assert r.get("status") == "5.1.1", dsn.describe()
    assert r.get("action") == "failed", dsn.describe()


def test_notify_never_sends_nothing(delivery):
    d = delivery().start()
    quiet, loud = token(), token()
    x = "x@" + ERROR_DOMAIN
    y = "y@" + ERROR_DOMAIN
    d.send(x, make_message(quiet, to=x), rcpt_opts={x: ["NOTIFY=NEVER"]})
    d.wait_log(agent_log_re(x, "bounced"))
    # A second failure that does notify: once its notice is in, the
    # first one, earlier, would have been too.
    d.send(y, make_message(loud, to=y), rcpt_opts={y: ["NOTIFY=FAILURE"]})
    d.wait_dsn(SENDER, loud)
    d.wait_queue_empty()
    for p in d.messages(SENDER):
        assert quiet.encode() not in read_bytes(p), \
            "NOTIFY=NEVER but a notice came: %s\n%s" % (
                p, read_bytes(p)[:2000].decode(errors="replace"))
    assert len(d.messages(SENDER)) == 1, d.diag()


def test_notify_success(delivery):
    d = delivery().start()
    tok = token()
    d.send(ALICE, make_message(tok, to=ALICE), mail_opts=["RET=HDRS"],
           rcpt_opts={ALICE: ["NOTIFY=SUCCESS,FAILURE"]})
    d.wait_messages(ALICE, 1, tok)
    # The notice may or may not return the headers: any message.
    paths = d.wait_messages(SENDER, 1)
    dsn = Dsn(read_bytes(paths[0]), paths[0])
    check_null_sender_delivery(dsn)
    check_dsn_structure(dsn)
    r = dsn.recipient(ALICE)
    assert r.get("action") == "delivered", dsn.describe()
    assert r.get("status", "").startswith("2."), dsn.describe()
    d.wait_queue_empty()


def test_undeliverable_bounce_does_not_loop(delivery):
    d = delivery().start()
    tok = token()
    nobody = "nobody@" + VDOMAIN        # not in virtual_mailbox_maps
    x = "x@" + ERROR_DOMAIN
    d.send(x, make_message(tok, sender=nobody, to=x), sender=nobody)
    d.wait_log(agent_log_re(x, "bounced"))
    # The notice to nobody@ is tried, and bounces at the virtual agent.
    d.wait_log(agent_log_re(nobody, "bounced"))
    d.wait_queue_empty()
    # A few queue runs later, still nothing new: no loop.
    settle(4)
    assert not d.spool_ids(), "queue not empty again: %r\n%s" % (
        sorted(d.spool_ids()), d.diag())
    log = d.o.log_text()
    # The queue process logs each result too: count the notices (queue
    # IDs) addressed to nobody@, and the delivery agents' attempts.
    ids = set(re.findall(r"(%s): to=<%s>" % (QUEUE_ID, re.escape(nobody)),
                         log))
    tries = re.findall(r"ostia/(?!queue\[)[\w.-]+\[\d+\]: %s: to=<%s>"
                       % (QUEUE_ID, re.escape(nobody)), log)
    assert len(ids) == 1 and len(tries) == 1, \
        "the notice to %s should be made once and tried once: notices " \
        "%r, %d attempts\n%s" % (nobody, sorted(ids), len(tries), d.diag())
    assert not re.search(PROC + QUEUE_ID + r": to=<>", log), \
        "something was sent to the null sender\n" + d.diag()
    files = d.all_maildir_files()
    assert len(files) <= 1, "more than one notice delivered: %r" % files
    for p in files:     # at most one, to the postmaster
        assert p.startswith(d.maildir(POSTMASTER) + "/"), \
            "unexpected delivery %s" % p


def test_relocated_maps(delivery):
    """relocated_maps: smtpd refuses a moved recipient at RCPT with
    550 5.1.6 and the new contact; mail that was queued anyway (here
    with smtpd_reject_unlisted_recipient = no on a second listener)
    bounces with the same words, status 5.1.6."""
    d = delivery()
    moved = "moved@" + VDOMAIN
    d.params["relocated_maps"] = d.table("relocated", {
        moved: "moved.person@elsewhere.example"})
    d.master_extra = ("127.0.0.1:@port:lax@ inet n - n - 1 smtpd\n"
                      "  -o smtpd_reject_unlisted_recipient=no\n")
    d.start()
    s = smtplib.SMTP("127.0.0.1", d.o.port, timeout=30)
    try:
        s.ehlo("client.test")
        assert s.mail(SENDER)[0] == 250
        code, text = s.rcpt(moved)
        assert (code, text.decode()) == (
            550, "5.1.6 <%s>: Recipient address rejected: User has moved "
            "to moved.person@elsewhere.example" % moved), (code, text)
    finally:
        s.quit()
    tok = token()
    lax = smtplib.SMTP("127.0.0.1", d.o.ports["lax"], timeout=30)
    try:
        lax.sendmail(SENDER, [moved], make_message(tok, to=moved))
    finally:
        lax.quit()
    d.wait_log(agent_log_re(moved, "bounced",
                            r"User has moved to moved\.person@"))
    dsn = d.wait_dsn(SENDER, tok)
    check_dsn_structure(dsn)
    r = dsn.recipient(moved)
    assert r.get("status") == "5.1.6", dsn.describe()
    assert r.get("action") == "failed", dsn.describe()
    assert "moved.person@elsewhere.example" in dsn.text, dsn.describe()
    d.wait_queue_empty()
