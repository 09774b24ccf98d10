# SPDX-License-Identifier: MIT
"""The seed's content filter with the real thing (issue 7): Ostia ->
Debian's amavisd-new -> Ostia's re-injection listener -> Maildir.

test_outbound_content_filter.py runs the same loop with a small Python filter;
here amavisd itself (tests/e2e/amavis_server.py: `amavisd -c FILE
foreground` as the test user, virus and spam checks bypassed, no
outside scanners) sits on the filter port.  Ostia is set up as the
seed, on free loopback ports:

  main.cf    content_filter = smtp-amavis:[127.0.0.1]:AMAVIS_PORT
             smtp-amavis_destination_recipient_limit = 1
  master.cf  smtp-amavis unix - - n - 2 smtp   (seed: maxproc 4; 2
                                                 here, amavis's
                                                 $max_servers)
               -o smtp_data_done_timeout=1200
               -o smtp_send_xforward_command=yes
               -o disable_dns_lookups=yes
               -o max_use=20
             127.0.0.1:REINJECT_PORT inet n - n - - smtpd
               -o content_filter=  ... the seed's -o list (REINJECT
               below), mynetworks=127.0.0.0/8 where the seed's copy
               had its address scrubbed

Virtual Maildir delivery as the other delivery tests
(delivery_e2e.Delivery via outbound_e2e.Mta).

- test_amavis_loop_one_copy: one message to two mailboxes.  For each
  recipient Ostia's smtp-amavis line says status=sent to
  127.0.0.1:AMAVIS_PORT with amavis's reply naming the queue ID the
  re-injection smtpd gave; that new queue ID is delivered by the
  virtual agent, never sent to amavis again; each Maildir holds
  exactly one copy, with one Received: of amavis between Ostia's two,
  whose id is the mail_id of amavis's "Passed CLEAN {RelayedInbound}"
  log line for that queue ID; amavis passed exactly two messages; no
  notice to the sender.
- test_amavis_sees_original_client: submitted from 127.0.0.5, the
  message reaches amavis with XFORWARD (the seed's
  smtp_send_xforward_command=yes): amavis's Passed line names
  [127.0.0.5], not the 127.0.0.1 of the hand-off; with
  smtpd_authorized_xforward_hosts on the re-injection listener, amavis
  sends XFORWARD back and the re-injected copy's "client=" line names
  orig_client [127.0.0.5].
- test_amavis_down_defers_then_delivers: amavis's port closed ->
  status=deferred (connection refused), the message stays in
  deferred/, nothing delivered, nothing bounced; amavis started, then
  `ostia queue flush` (the backoff is an hour) -> delivered through
  amavis exactly once, queue empty, no bounce.

No timing assertions:
every wait is a bounded poll; settle() only lets time pass before a
check that something did NOT happen.

Without amavisd (Debian package amavisd-new, installed by
scripts/install-deps) the tests skip, visibly.
"""

import os
import re
import shutil
import tempfile

import pytest

from amavis_server import AmavisServer
from delivery_e2e import PROC, QUEUE_ID, SENDER, VDOMAIN, read_bytes, \
    settle, token
from ostia_harness import free_port, require_peer
from outbound_e2e import message_for, no_more_copies, received_headers, \
    submit_from

ALICE = "alice@" + VDOMAIN
BOB = "bob@" + VDOMAIN

AMAVIS_SERVICE = (
    "smtp-amavis unix - - n - 2 smtp\n"
    "  -o smtp_data_done_timeout=1200\n"
    "  -o smtp_send_xforward_command=yes\n"
    "  -o disable_dns_lookups=yes\n"
    "  -o max_use=20\n")

REINJECT = (
    "127.0.0.1:@port:reinject@ inet n - n - - smtpd\n"
    "  -o content_filter=\n"
    "  -o mynetworks_style=host\n"
    "  -o mynetworks=127.0.0.0/8\n"
    "  -o local_recipient_maps=\n"
    "  -o relay_recipient_maps=\n"
    "  -o strict_rfc821_envelopes=yes\n"
    "  -o smtp_tls_security_level=none\n"
    "  -o smtpd_tls_security_level=none\n"
    "  -o smtpd_restriction_classes=\n"
    "  -o smtpd_delay_reject=no\n"
    "  -o smtpd_client_restrictions=permit_mynetworks,reject\n"
    "  -o smtpd_helo_restrictions=\n"
    "  -o smtpd_sender_restrictions=\n"
    "  -o smtpd_recipient_restrictions=permit_mynetworks,reject\n"
    "  -o smtpd_end_of_data_restrictions=\n"
    "  -o smtpd_error_sleep_time=0\n"
    "  -o smtpd_soft_error_limit=1001\n"
    "  -o smtpd_hard_error_limit=1000\n"
    "  -o smtpd_client_connection_count_limit=0\n"
    "  -o smtpd_client_connection_rate_limit=0\n"
    "  -o receive_override_options=no_header_body_checks,"
    "no_unknown_recipient_checks,no_address_mappings\n")

# Retries only when the test asks (`ostia queue flush`).
LONG_BACKOFF = {"minimal_backoff_time": "3600s",
                "maximal_backoff_time": "4000s",
                "queue_run_delay": "3600s"}


def _failed(request):
    return any(getattr(getattr(request.node, "ostia_rep_" + w, None),
                       "failed", False) for w in ("setup", "call"))


@pytest.fixture
def amavis(request):
    """amavis(forward_port, port=None) -> AmavisServer (not started);
    stopped after the test, its log printed when the test failed."""
    require_peer("amavisd")
    made = []
    tmp = tempfile.mkdtemp(prefix="ostia-amavis-")
    os.chmod(tmp, 0o755)

    def make(forward_port, port=None):
        srv = AmavisServer(tmp, forward_port=forward_port, port=port)
        made.append(srv)
        return srv
    yield make
    failed = _failed(request)
    for srv in made:
        if failed:
            print("---- amavisd 127.0.0.1:%d ----" % srv.port)
            print(srv.diagnostics(120))
        srv.close()
    if failed:
        print("kept %s" % tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def seed_mta(mta, dns, amavis_port, **params):
    """An Mta configured as the seed, filtering through amavis_port;
    not started."""
    a = mta("a.ostia.test")
    a.params["dns_resolvers"] = dns({}).resolvers
    a.master_extra = AMAVIS_SERVICE + REINJECT
    a.params.update({
        "content_filter": "smtp-amavis:[127.0.0.1]:%d" % amavis_port,
        "smtp-amavis_destination_recipient_limit": "1",
    })
    a.params.update(params)
    # The port of the re-injection listener must be known before
    # amavis starts: fix it now.
    a.o.ports["reinject"] = free_port()
    return a


def sent_via_amavis(a, rcpt, port, start=0):
    """Wait for the smtp-amavis line for rcpt: status=sent, relay to
    127.0.0.1:port, amavis's reply naming the re-injection's queue ID.
    Returns (the line, its queue ID, the re-injection's queue ID)."""
    m = a.wait_log(
        PROC + r"(%s): to=<%s>, .*relay=(?:127\.0\.0\.1)?\[127\.0\.0\.1\]"
        r":%d, .*status=sent \((.*)\)$" % (QUEUE_ID, re.escape(rcpt), port),
        start=start)
    line, reply = m.group(0), m.group(2)
    # amavis passes on the answer of its forward_method's server.
    r = re.search(r"from MTA\(smtp:\[127\.0\.0\.1\]:%d\): 250 .*queued "
                  r"as (%s)" % (a.o.ports["reinject"], QUEUE_ID), reply)
    assert r, "amavis did not answer with the re-injection's queue ID: " \
        "%r" % line
    assert r.group(1) != m.group(1), line
    return line, m.group(1), r.group(1)


def delivered_line(a, qid, rcpt):
    """The virtual agent's status=sent line for queue ID qid."""
    return a.wait_log(PROC + r"%s: to=<%s>, .*relay=virtual.*status=sent"
                      % (qid, re.escape(rcpt))).group(0)


def check_copy(path, tok, port):
    """The Maildir copy: the message, with exactly one Received: field
    of amavis (listening on port) between Ostia's two (the first smtpd
    below, the re-injection above).  Returns amavis's mail_id from
    it."""
    data = read_bytes(path)
    assert ("Hello, this is %s." % tok).encode() in data, path
    hdrs = received_headers(data)
    ours = [i for i, h in enumerate(hdrs)
            if re.search(r"\(amavis, port %d\)" % port, h)]
    assert len(ours) == 1, "expected one Received: by amavis port %d " \
        "in %s, got:\n%s" % (port, path, "\n".join(hdrs))
    i = ours[0]
    assert 0 < i < len(hdrs) - 1, "\n".join(hdrs)
    assert "by a.ostia.test" in hdrs[i - 1], hdrs[i - 1]
    assert "by a.ostia.test" in hdrs[i + 1], hdrs[i + 1]
    assert "(amavis.test [127.0.0.1])" in hdrs[i], hdrs[i]
    m = re.search(r"\bwith ESMTP\s+id\s+(\S+)", hdrs[i])
    assert m, hdrs[i]
    return m.group(1)


def amavis_passed(srv, rcpt, qid2):
    """amavis's "Passed CLEAN {RelayedInbound}" line for rcpt whose
    re-injection was queued as qid2; returns its mail_id."""
    pat = re.compile(r"Passed CLEAN \{RelayedInbound\}, \[127\.0\.0\.1\] "
                     r"<[^>]*> -> <%s>, .*mail_id: (\S+), .*queued_as: %s\b"
                     % (re.escape(rcpt), qid2))
    m = pat.search(srv.log_text())
    assert m, "no %r in amavis's log\n%s" % (pat.pattern,
                                             srv.diagnostics())
    return m.group(1)


def test_amavis_loop_one_copy(mta, dns, amavis):
    port = free_port()
    a = seed_mta(mta, dns, port)
    srv = amavis(a.o.ports["reinject"], port=port).start()
    a.start()
    tok = token()
    qid = a.send([ALICE, BOB], message_for(tok, ALICE))
    reinjected = {}
    for rcpt in (ALICE, BOB):
        line, qid1, qid2 = sent_via_amavis(a, rcpt, port)
        assert qid1 == qid, line
        reinjected[rcpt] = qid2
        # The re-injected copy is a new queue file that goes to its
        # final delivery, not back to amavis.
        delivered_line(a, qid2, rcpt)
        [path] = a.wait_messages(rcpt, 1, tok)
        mail_id = check_copy(path, tok, port)
        assert amavis_passed(srv, rcpt, qid2) == mail_id, \
            (mail_id, srv.diagnostics())
    # Recipient limit 1: one amavis transaction (and one re-injection)
    # per recipient.
    assert reinjected[ALICE] != reinjected[BOB], reinjected
    a.wait_queue_empty()
    settle(3)
    no_more_copies(a, ALICE, tok)
    no_more_copies(a, BOB, tok)
    # The re-injection smtpd took both from amavis.
    for qid2 in reinjected.values():
        a.wait_log(PROC + r"%s: client=[^,\n]*\[127\.0\.0\.1\]" % qid2)
    # Neither copy went through smtp-amavis a second time.
    log = a.o.log_text()
    for qid2 in reinjected.values():
        assert not re.search(r"%s: to=<[^>]*>, .*relay=[^,]*:%d," % (
            qid2, port), log), "re-injected %s looped to amavis" % qid2
    assert len(re.findall(r"%s: to=<[^>]*>, .*relay=[^,]*:%d, .*status=sent"
                          % (qid, port), log)) == 2, a.diag()
    # amavis saw and passed exactly two messages (one line each with
    # its {category}), and refused or dropped none.
    alog = srv.log_text()
    assert len(re.findall(r"\bPassed \w+ \{", alog)) == 2, \
        srv.diagnostics()
    assert not re.search(r"\b(?:Blocked|TROUBLE|TEMPFAIL)\b", alog), \
        srv.diagnostics()
    assert not a.messages(SENDER), "a notice reached the sender\n" + a.diag()


def test_amavis_sees_original_client(mta, dns, amavis):
    """smtp_send_xforward_command=yes (the seed's): amavis logs the
    client that submitted the message (127.0.0.5), not the 127.0.0.1 of
    the hand-off.  With smtpd_authorized_xforward_hosts on the
    re-injection listener (not in the seed), amavis passes it on in
    turn, and Ostia logs it as orig_client of the re-injected copy."""
    port = free_port()
    a = seed_mta(mta, dns, port)
    a.master_extra += "  -o smtpd_authorized_xforward_hosts=127.0.0.0/8\n"
    srv = amavis(a.o.ports["reinject"], port=port).start()
    a.start()
    tok = token()
    submit_from(a, "127.0.0.5", "orig-client.test", ALICE,
                message_for(tok, ALICE))
    _, _, qid2 = sent_via_amavis(a, ALICE, port)
    [path] = a.wait_messages(ALICE, 1, tok)
    check_copy(path, tok, port)
    pat = re.compile(r"Passed CLEAN \{Relayed\w*\}, \[127\.0\.0\.5\]"
                     r"(?::\d+)? <[^>]*> -> <%s>, .*queued_as: %s\b"
                     % (re.escape(ALICE), qid2))
    assert pat.search(srv.log_text()), "no %r in amavis's log\n%s" % (
        pat.pattern, srv.diagnostics())
    a.wait_log(r"ostia/smtpd\[\d+\]: %s: client=\S+\[127\.0\.0\.1\]"
               r"(?:, orig_queue_id=\S+)?, orig_client=\S+\[127\.0\.0\.5\]$"
               % qid2)


def test_amavis_down_defers_then_delivers(mta, dns, amavis):
    port = free_port()
    a = seed_mta(mta, dns, port, **LONG_BACKOFF)
    srv = amavis(a.o.ports["reinject"], port=port)     # not started
    a.start()
    tok = token()
    qid = a.send(ALICE, message_for(tok, ALICE))
    line = a.wait_status(ALICE, "deferred").group(0)
    assert qid in line and re.search(r"refused", line, re.I), line
    assert re.search(r"\[127\.0\.0\.1\]:%d" % port, line), line
    a.wait_deferred_in_queue(qid)
    # The reason is listed as soon as it is recorded; the file moves to
    # deferred/ a moment later.
    a.wait_in_queue_dir(qid, "deferred")
    assert not a.messages(ALICE), "delivered without amavis:\n" + a.diag()
    a.assert_no_status(ALICE, "bounced")
    # amavis comes up; the message waits for the next retry (an hour
    # away), which `ostia queue flush` brings forward.
    srv.start()
    mark = a.o.log_mark()
    r = a.queue("flush")
    assert r.returncode == 0, "ostia queue flush exited %d\n%s\n%s" % (
        r.returncode, r.stdout, r.stderr)
    line, qid1, qid2 = sent_via_amavis(a, ALICE, port, start=mark)
    assert qid1 == qid, line
    delivered_line(a, qid2, ALICE)
    [path] = a.wait_messages(ALICE, 1, tok)
    assert check_copy(path, tok, port) == amavis_passed(srv, ALICE, qid2)
    a.wait_queue_empty()
    settle(3)
    no_more_copies(a, ALICE, tok)
    a.assert_no_status(ALICE, "bounced")
    assert not a.messages(SENDER), "a notice reached the sender\n" + a.diag()
