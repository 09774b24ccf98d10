# SPDX-License-Identifier: MIT
"""The virtual delivery agent: Maildir++ files under virtual_mailbox_base.

Mail accepted by smtpd for a virtual_mailbox_domains address is delivered
by the queue manager without any further command, into the Maildir that
virtual_mailbox_maps names ("domain/user/"), as the virtual_uid_maps /
virtual_gid_maps user: a file in new/ whose name carries ",S=<size>",
beginning with Return-Path: and Delivered-To:, with LF line ends and the
body intact (8-bit too).  Dovecot (doveadm -c, its own configuration)
reads what Ostia wrote.  No agent runs as root; a uid of 0 or below
virtual_minimum_uid is refused with a deferral that says why; a message
that already went through the mailbox (Delivered-To: loop) bounces.
"""

import os
import re
import stat

import pytest

from delivery_e2e import (SENDER, VDOMAIN, agent_log_re,
                          header_block, maildir_size_field, make_message,
                          proc_ids, read_bytes, service_pids, token,
                          wait_services_ready)
from ostia_harness import wait_until

ALICE = "alice@" + VDOMAIN
BOB = "bob@" + VDOMAIN
CAROL = "carol@" + VDOMAIN
ROOT = os.geteuid() == 0
MAILDIR_NAME = re.compile(r"\A\d+\.[^/.]+\.[^/]+,S=\d+(?:,W=\d+)?(?::2,.*)?\Z")


def body_of(data, sep):
    i = data.find(sep + sep)
    assert i >= 0, "no header/body separator in %r" % data[:300]
    return data[i + 2 * len(sep):]


def test_maildir_file_format(delivery):
    d = delivery().start()
    tok = token()
    msg = make_message(tok, to=ALICE, eightbit=True)
    qid = d.send(ALICE, msg, mail_opts=["BODY=8BITMIME"])
    [path] = d.wait_messages(ALICE)
    maildir = d.maildir(ALICE)
    assert os.path.dirname(path) == os.path.join(maildir, "new"), \
        "delivered into %s, expected %s/new" % (path, maildir)
    for sub in ("cur", "new", "tmp"):
        st = os.stat(os.path.join(maildir, sub))
        assert stat.S_ISDIR(st.st_mode), sub
        if ROOT:
            assert (st.st_uid, st.st_gid) == (d.uid, d.gid), \
                "%s/%s owned by %d:%d, expected the virtual_uid_maps " \
                "user %d:%d" % (maildir, sub, st.st_uid, st.st_gid,
                                d.uid, d.gid)
    # The file appears in new/ (link) just before its tmp/ name is
    # removed; once the delivery is logged, tmp/ must be empty.
    d.wait_log(agent_log_re(ALICE, "sent", r"[^)]*"))
    tmpdir = os.path.join(maildir, "tmp")
    wait_until(lambda: not os.listdir(tmpdir), 10,
               what="tmp/ to be empty (left: %r)" % os.listdir(tmpdir))
    name = os.path.basename(path)
    assert MAILDIR_NAME.match(name), "Maildir file name %r" % name
    data = read_bytes(path)
    st = os.stat(path)
    assert maildir_size_field(path) == len(data) == st.st_size, \
        "%s: S=%s but the file has %d bytes" % (name,
                                                maildir_size_field(path),
                                                st.st_size)
    if ROOT:
        assert (st.st_uid, st.st_gid) == (d.uid, d.gid), \
            "message file owned by %d:%d, expected %d:%d" % (
                st.st_uid, st.st_gid, d.uid, d.gid)
    assert b"\r" not in data, "CR left in the Maildir file: %r" % data[:400]
    lines = data.split(b"\n")
    assert lines[0] == ("Return-Path: <%s>" % SENDER).encode(), lines[:3]
    assert re.fullmatch(rb"Delivered-To: <?%s>?" % re.escape(ALICE.encode()),
                        lines[1]), lines[:3]
    assert lines[2].startswith(b"Received: "), \
        "smtpd's Received: header should follow: %r" % lines[:4]
    # The message as sent, with LF line ends, 8-bit bytes untouched.
    sent_body = body_of(msg, b"\r\n").replace(b"\r\n", b"\n")
    assert body_of(data, b"\n") == sent_body, \
        "body differs:\n%r\nvs sent\n%r" % (body_of(data, b"\n"), sent_body)
    assert "Grüße aus Köln".encode() in data
    heads = header_block(data)
    assert ("Subject: delivery test %s" % tok).encode() in heads
    d.wait_log(agent_log_re(ALICE, "sent"))
    assert qid in d.o.log_text()
    d.wait_queue_empty()


@pytest.mark.parametrize("table", ["texthash", "inline"])
def test_several_recipients_and_extension(delivery, table):
    d = delivery()
    d.params["recipient_delimiter"] = "+"
    d.inline_mailboxes = table == "inline"
    d.start()
    tok = token()
    rcpts = [ALICE, BOB, "carol+lists@" + VDOMAIN]
    d.send(rcpts, make_message(tok, to=ALICE))
    for rcpt, box in ((ALICE, ALICE), (BOB, BOB),
                      ("carol+lists@" + VDOMAIN, CAROL)):
        [path] = d.wait_messages(box, 1, tok)
        data = read_bytes(path)
        m = re.search(rb"^Delivered-To: <?([^>\n]+)>?$", data, re.M)
        assert m and m.group(1).decode().lower() == rcpt.lower(), \
            "%s: Delivered-To %r, expected %s" % (path, m and m.group(1),
                                                   rcpt)
    d.wait_queue_empty()
    for box in (ALICE, BOB, CAROL):
        assert len(d.messages(box)) == 1, \
            "%s holds %d messages, expected 1" % (box, len(d.messages(box)))


def test_dovecot_reads_ostia_maildir(delivery, dovecot):
    d = delivery()
    dv = dovecot(users=[ALICE, BOB],
                 mail_location="maildir:%s/%%d/%%n" % d.vbase)
    d.start()
    tok = token()
    msg = make_message(tok, to=ALICE, eightbit=True)
    d.send([ALICE, BOB], msg, mail_opts=["BODY=8BITMIME"])
    d.wait_messages(ALICE)
    d.wait_messages(BOB)
    out = dv.fetch_checked(ALICE, "hdr body")
    assert "Return-Path: <%s>" % SENDER in out, out
    assert "Subject: delivery test %s" % tok in out, out
    assert "Hello, this is %s." % tok in out, out
    assert "Grüße aus Köln" in out, out
    # Dovecot's idea of the size comes from S= and must match the file.
    sizes = dv.fetch_checked(BOB, "size.physical")
    [path] = d.messages(BOB)
    assert re.search(r"size\.physical: %d\b" % os.path.getsize(path),
                     sizes), "doveadm: %r, file %s has %d bytes" % (
        sizes, path, os.path.getsize(path))
    assert len(dv.search(ALICE)) == 1
    text = dv.fetch_checked(BOB, "text")
    assert "Hello, this is %s." % tok in text
    assert "Error" not in dv.log_text(), dv.log_text()


def test_agents_never_run_as_root(delivery):
    d = delivery().start()
    tok = token()
    d.send([ALICE, "x@discard.test", "x@error.test"],
           make_message(tok, to=ALICE))
    d.wait_messages(ALICE)
    d.wait_queue_empty()
    # A process just forked is root until it drops privileges (before
    # it tells the master it is ready): look once all are ready, and
    # give a straggler a moment to finish its start.
    wait_services_ready(d.o)
    services = ("virtual", "lmtp", "discard", "error", "retry")

    def agents():
        out = []
        for service in services:
            for pid in service_pids(d.o, service):
                ids = proc_ids(pid)
                if ids is not None:
                    out.append((service, pid, ids))
        return out

    def rootless():
        bad = [a for a in agents() if 0 in a[2]]
        return None if bad else True
    try:
        wait_until(rootless, 10, 0.1, "no agent process running as root")
    except AssertionError:
        raise AssertionError("agent processes running as uid/gid 0 "
                             "(service, pid, (ruid, euid, rgid, egid)): "
                             "%r" % [a for a in agents() if 0 in a[2]]) \
            from None
    checked = agents()
    for service, pid, ids in checked:
        if ROOT and service == "virtual":
            assert ids[1] == d.uid and ids[3] == d.gid, \
                "virtual agent pid %d runs as %r, expected " \
                "virtual_uid_maps %d:%d" % (pid, ids, d.uid, d.gid)
    assert any(s == "virtual" for s, _, _ in checked), \
        "no virtual agent process found among the master's children " \
        "%r\n%s" % (d.o.child_pids(), d.o.cli("status").stdout)


@pytest.mark.parametrize("case", ["uid0", "below_minimum"])
def test_refused_uid_defers_with_reason(delivery, case):
    d = delivery()
    if case == "uid0":
        d.params["virtual_uid_maps"] = "static:0"
    else:
        d.params["virtual_minimum_uid"] = str(d.uid + 1)
    d.start()
    tok = token()
    qid = d.send(ALICE, make_message(tok, to=ALICE))
    line = d.wait_log(agent_log_re(ALICE, "deferred") + r".*$").group(0)
    assert re.search(r"uid|minimum", line, re.I), \
        "the deferral should say why (the uid): %r" % line
    assert d.spool_has(qid), "the message must stay queued\n" + d.diag()
    assert not d.messages(ALICE), "delivered despite the refused uid"
    if ROOT and os.path.exists(d.maildir(ALICE)):
        assert os.stat(d.maildir(ALICE)).st_uid != 0, \
            "a Maildir was created as root"


def test_delivered_to_loop_bounces(delivery):
    d = delivery().start()
    tok = token()
    msg = make_message(tok, to=ALICE,
                       extra_headers=["Delivered-To: %s" % ALICE])
    d.send(ALICE, msg)
    d.wait_log(agent_log_re(ALICE, "bounced", r"[^)]*loop"))
    dsn = d.wait_dsn(SENDER, tok)
    r = dsn.recipient(ALICE)
    assert r.get("status") == "5.4.6", dsn.describe()
    assert r.get("action") == "failed", dsn.describe()
    assert not d.messages(ALICE), "the looping message was delivered"


def test_duplicates_delivered_once(delivery):
    """Two recipients that expand to the same mailbox (an alias and the
    mailbox itself, and the same address twice) give one copy, as
    Postfix's duplicate filter does; a different mailbox still gets its
    own."""
    d = delivery()
    d.valiases["team@" + VDOMAIN] = ALICE
    d.start()
    tok = token()
    d.send([ALICE, "team@" + VDOMAIN, ALICE, BOB],
           make_message(tok, to=ALICE))
    d.wait_messages(BOB, 1, tok)
    d.wait_queue_empty()
    assert len(d.wait_messages(ALICE, 1, tok)) == 1, d.diag()
