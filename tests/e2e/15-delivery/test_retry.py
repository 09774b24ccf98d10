# SPDX-License-Identifier: MIT
"""Retries and expiry, against a scripted LMTP server (delivery_e2e.
LmtpServer) whose replies the test changes while Ostia runs.

- A temporary failure (451) defers the message: `ostia queue` lists it
  with the reason, the log says why in words; once the server accepts,
  the message is delivered after the backoff without any command.
- A recipient already delivered is never delivered again when another
  recipient of the same message is retried: refused at RCPT, refused
  after DATA (LMTP's per-recipient replies), and recipients at two
  different servers (two jobs of one message).
- A message deferred past maximal_queue_lifetime is returned to the
  sender: Action: failed, the 4.x.x status and the server's last reply
  in Diagnostic-Code.
- A full stop and start resumes from the queue directory alone: the
  recipient already delivered is not delivered again.
Retry times are 1 s to 2 s here (minimal_backoff_time,
maximal_backoff_time, queue_run_delay).
"""

import os
import re

from delivery_e2e import (ERROR_DOMAIN, LMTP_DOMAIN, QUEUE_ID, SENDER,
                          agent_log_re, check_dsn_structure, make_message,
                          token)

A = "a@" + LMTP_DOMAIN
B = "b@" + LMTP_DOMAIN


def lmtp_setup(delivery, lmtp_server, **params):
    srv = lmtp_server()
    d = delivery()
    d.route(LMTP_DOMAIN, "lmtp:" + srv.nexthop)
    d.params.update(params)
    d.start()
    return d, srv


def test_deferred_then_delivered(delivery, lmtp_server):
    d, srv = lmtp_setup(delivery, lmtp_server)
    tok = token()
    srv.rule(None, "451 4.2.0 try again later %s" % tok)
    qid = d.send(A, make_message(tok, to=A))
    srv.wait(lambda s: s.attempts(A) >= 1, "a first attempt", diag=d.diag)
    d.wait_log(agent_log_re(A, "deferred", r"[^)]*try again later %s" % tok))
    e = d.wait_listed(qid, lambda e: "try again later" in e.reason,
                      "with the deferral reason")
    assert e.rcpts == [A], e
    assert e.sender == SENDER, e
    srv.clear(None)
    srv.wait(lambda s: s.delivered(A) >= 1, "delivery after the backoff",
             diag=d.diag)
    d.wait_queue_empty()
    assert srv.delivered(A) == 1, srv.describe()
    [data] = srv.delivered_data(A)
    assert ("Hello, this is %s." % tok).encode() in data
    assert not d.messages(SENDER), "no notice expected"


def _partial(d, srv, stage):
    tok = token()
    srv.rule(B, "451 4.3.0 <%s> temporary trouble %s" % (B, tok), stage)
    d.send([A, B], make_message(tok, to=A))
    srv.wait(lambda s: s.delivered(A) == 1 and s.attempts(B) >= 1,
             "A delivered and B tried", diag=d.diag)
    d.wait_log(agent_log_re(B, "deferred", r"[^)]*temporary trouble"))
    # At least one retry of B alone while it still fails.
    srv.wait(lambda s: s.attempts(B) >= 2, "a retry of B", diag=d.diag)
    srv.clear(B)
    srv.wait(lambda s: s.delivered(B) == 1, "B delivered", diag=d.diag)
    d.wait_queue_empty()
    assert srv.delivered(A) == 1, \
        "A was delivered %d times:\n%s" % (srv.delivered(A), srv.describe())
    assert srv.attempts(A) == 1, \
        "A was offered again in a retry:\n" + srv.describe()
    assert srv.delivered(B) == 1, srv.describe()


def test_partial_rcpt_stage_never_redelivers(delivery, lmtp_server):
    d, srv = lmtp_setup(delivery, lmtp_server)
    _partial(d, srv, "rcpt")


def test_partial_data_stage_never_redelivers(delivery, lmtp_server):
    d, srv = lmtp_setup(delivery, lmtp_server)
    _partial(d, srv, "data")


def test_partial_two_servers(delivery, lmtp_server):
    s1, s2 = lmtp_server(), lmtp_server()
    d = delivery()
    d.route(LMTP_DOMAIN, "lmtp:" + s1.nexthop)
    d.route("lmtp2.test", "lmtp:" + s2.nexthop)
    d.start()
    tok = token()
    b2 = "b@lmtp2.test"
    s2.rule(None, "451 4.4.3 busy %s" % tok)
    d.send([A, b2], make_message(tok, to=A))
    s1.wait(lambda s: s.delivered(A) == 1, "A delivered", diag=d.diag)
    s2.wait(lambda s: s.attempts(b2) >= 2, "b retried", diag=d.diag)
    s2.clear(None)
    s2.wait(lambda s: s.delivered(b2) == 1, "b delivered", diag=d.diag)
    d.wait_queue_empty()
    assert s1.attempts(A) == 1 and s1.delivered(A) == 1, s1.describe()
    assert s2.delivered(b2) == 1, s2.describe()


def test_expiry_returns_message(delivery, lmtp_server):
    d, srv = lmtp_setup(delivery, lmtp_server,
                        maximal_queue_lifetime="3s")
    tok = token()
    reply = "451 4.2.1 mailbox busy %s" % tok
    srv.rule(None, reply)
    qid = d.send(A, make_message(tok, to=A))
    d.wait_log(agent_log_re(A, "deferred", r"[^)]*mailbox busy"))
    dsn = d.wait_dsn(SENDER, tok)
    check_dsn_structure(dsn)
    r = dsn.recipient(A)
    assert r.get("action") == "failed", dsn.describe()
    assert r.get("status", "").startswith("4."), \
        "an expired temporary failure keeps its 4.x.x status:\n" \
        + dsn.describe()
    assert reply in r.get("diagnostic-code", ""), \
        "Diagnostic-Code should carry the server's last reply:\n" \
        + dsn.describe()
    d.wait_queue_empty()
    assert srv.delivered(A) == 0
    log = d.o.log_text()
    assert re.search(r"%s: .*(expired|status=bounced)" % qid, log), \
        "the log should say %s expired / was returned\n%s" % (qid, d.diag())


def test_delay_notice_once(delivery, lmtp_server):
    """delay_warning_time: one notice (Action: delayed, the 4.x.x status
    and the server's reply), the message stays queued and is still
    retried; no second notice on later attempts."""
    d, srv = lmtp_setup(delivery, lmtp_server, delay_warning_time="2s")
    tok = token()
    reply = "451 4.2.1 slow down %s" % tok
    srv.rule(None, reply)
    qid = d.send(A, make_message(tok, to=A))
    dsn = d.wait_dsn(SENDER, tok)
    check_dsn_structure(dsn)
    r = dsn.recipient(A)
    assert r.get("action") == "delayed", dsn.describe()
    assert r.get("status", "").startswith("4."), dsn.describe()
    assert reply in r.get("diagnostic-code", ""), dsn.describe()
    n = srv.attempts(A)
    srv.wait(lambda s: s.attempts(A) >= n + 2, "two more attempts",
             diag=d.diag)
    # Still one notice, and the message is still queued.
    assert len(d.wait_messages(SENDER, 1, tok)) == 1, d.diag()
    d.wait_listed(qid, lambda e: True, "still queued")
    srv.clear(None)
    srv.wait(lambda s: s.delivered(A) == 1, "delivered at last",
             diag=d.diag)
    d.wait_queue_empty()
    assert len(d.wait_messages(SENDER, 1, tok)) == 1, d.diag()


def test_restart_resumes_without_redelivery(delivery, lmtp_server):
    """The queue directory is the only state: after a full stop and
    start, the deferred recipient is delivered and the one already done
    is not delivered again."""
    d, srv = lmtp_setup(delivery, lmtp_server)
    tok = token()
    srv.rule(B, "451 4.3.0 <%s> not yet %s" % (B, tok))
    qid = d.send([A, B], make_message(tok, to=A))
    srv.wait(lambda s: s.delivered(A) == 1 and s.attempts(B) >= 1,
             "A delivered and B tried", diag=d.diag)
    d.wait_log(agent_log_re(B, "deferred", r"[^)]*not yet"))
    d.wait_listed(qid, lambda e: e.rcpts == [B] and "not yet" in e.reason,
                  "with only B left, deferred")
    assert d.o.stop() == 0, d.o.diagnostics()
    srv.clear(B)
    d.o.start_foreground()
    srv.wait(lambda s: s.delivered(B) == 1, "B delivered after the restart",
             diag=d.diag)
    d.wait_queue_empty()
    assert srv.delivered(A) == 1 and srv.attempts(A) == 1, \
        "A was delivered again after the restart:\n" + srv.describe()



def test_transport_retry_time(delivery):
    """A delivery agent that cannot be reached (its socket gone) marks
    its transport down: its mail is deferred with the reason in words,
    and the queue manager does not try to connect again before
    transport_retry_time has passed (retries of the message meanwhile
    are deferred with the same reason, without a new attempt)."""
    down = r"warning: delivery agent bouncer is not available \(cannot " \
        r"connect to "
    deferred = r"(%s): deferred: 1 recipient not delivered yet \(delivery " \
        r"agent bouncer is not available" % QUEUE_ID
    for retry, attempts in (("1h", 1), ("1s", 2)):
        d = delivery()
        d.params["transport_retry_time"] = retry
        d.start()
        sock = os.path.join(d.o.queue_dir, "private", "bouncer")
        assert os.path.exists(sock), sock
        os.unlink(sock)
        mark = d.o.log_mark()
        d.send(["x@" + ERROR_DOMAIN], make_message(token()))
        # Three queue runs deferred it (queue_run_delay 1 s, backoff at
        # most 2 s) ...
        end = mark
        for _ in range(3):
            end = d.wait_log(deferred, start=end).end()
        # ... with one connection attempt while the transport is down
        # for an hour, more when it is retried after a second.
        n = d.log_count(down, start=mark)
        if attempts == 1:
            assert n == 1, (retry, n)
        else:
            assert n >= 2, (retry, n)
        d.o.stop()
