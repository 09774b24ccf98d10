# SPDX-License-Identifier: MIT
"""`ostia -c DIR queue ...`, the queue tools, on a queue with deferred,
held and active mail (a scripted LMTP server answers 451 or stalls).

  ostia queue | queue list   mailq-like: "ID[!|*] SIZE DATE SENDER"
                             ('!' held, '*' being delivered), then
                             "(reason of the last deferral)", then the
                             recipients not yet done; last line
                             "-- N Kbytes in M Requests." or "Mail queue
                             is empty"
  queue show ID              the envelope and the message
  queue hold|release|requeue|delete ID|ALL, flush [ID | -d DOMAIN]
                             print what they did, exit 0; an unknown ID
                             exits 1 with a message; the queue process
                             unreachable exits 2.

hold: listed with '!', no longer retried; release: retried again;
flush: retried at once, without waiting for the backoff (here the
backoff is an hour, so only the command can cause the attempt);
delete: gone, never delivered.
"""

import os
import re

from delivery_e2e import (LMTP_DOMAIN, QUEUE_ID_RE, SENDER, make_message,
                          parse_queue, settle, token)
from ostia_harness import wait_until

A = "a@" + LMTP_DOMAIN
B = "b@" + LMTP_DOMAIN
UNKNOWN_ID = "0123456789ABCDEF"
TIME_RE = re.compile(r"\b\d\d:\d\d:\d\d\b")
LONG_BACKOFF = {"minimal_backoff_time": "3600s",
                "maximal_backoff_time": "4000s",
                "queue_run_delay": "3600s"}


def start_with_lmtp(delivery, lmtp_server, **params):
    srv = lmtp_server()
    d = delivery()
    d.route(LMTP_DOMAIN, "lmtp:" + srv.nexthop)
    d.params.update(params)
    d.start()
    return d, srv


def run(d, *args, expect=0):
    r = d.queue(*args)
    assert r.returncode == expect, \
        "ostia queue %s exited %d, expected %d\nstdout:\n%s\nstderr:\n%s\n%s" \
        % (" ".join(args), r.returncode, expect, r.stdout, r.stderr,
           d.diag())
    return r


def said(r, qid, verb):
    """The command's output says `qid: verb`."""
    out = r.stdout + r.stderr
    assert re.search(r"%s:? .*%s" % (qid, r"\b%s\b" % verb if verb else ""),
                     out, re.I), \
        "expected '%s: %s' in the output of the command:\n%s" % (qid, verb,
                                                                  out)


def deferred(d, srv, rcpts, tok):
    """Send a message that the server refuses; wait until it is listed
    as deferred (reason shown, not being delivered)."""
    qid = d.send(rcpts, make_message(tok, to=rcpts[0]))
    srv.wait(lambda s: all(s.attempts(r) >= 1 for r in rcpts),
             "a first attempt", diag=d.diag)
    d.wait_listed(qid, lambda e: e.reason and e.flag == "",
                  "as deferred, with a reason")
    return qid


def test_listing_show_and_empty(delivery, lmtp_server):
    d, srv = start_with_lmtp(delivery, lmtp_server)
    r = run(d)
    entries, footer = parse_queue(r.stdout)
    assert not entries and footer == ("empty",), r.stdout
    tok = token()
    srv.rule(None, "451 4.3.2 queue listing test %s" % tok)
    msg = make_message(tok, to=A)
    qid = d.send([A, B], msg)
    e = d.wait_listed(qid, lambda e: "queue listing test" in e.reason
                      and e.flag == "", "deferred with the server's reply")
    assert e.sender == SENDER, e
    assert sorted(e.rcpts) == sorted([A, B]), e
    assert len(msg) <= e.size <= len(msg) + 8192, \
        "size %d for a message of %d bytes" % (e.size, len(msg))
    assert TIME_RE.search(e.date), "arrival time %r" % e.date
    r = run(d)
    entries, footer = parse_queue(r.stdout)
    assert footer is not None and footer[0] == "total" and \
        footer[2] == 1 and footer[1] >= 1, r.stdout
    # `queue list` keeps its older per-directory format (tests/e2e/
    # 03-smtp reads it); it must at least show the message.  The
    # message is tried again every second and is in deferred/ between
    # the attempts, not during them.
    wait_until(lambda: qid in run(d, "list", "deferred").stdout, 15, 0.05,
               "%s listed in deferred/ by `ostia queue list deferred`"
               % qid)
    r = run(d, "show", qid)
    for want in (qid, SENDER, A, B, "Hello, this is %s." % tok):
        assert want in r.stdout, "queue show: %r missing\n%s" % (want,
                                                                 r.stdout)
    # Once delivered, the queue is empty again.
    srv.clear(None)
    run(d, "flush")
    srv.wait(lambda s: s.delivered(A) == 1 and s.delivered(B) == 1,
             "delivery", diag=d.diag)
    d.wait_queue_empty()
    entries, footer = parse_queue(run(d).stdout)
    assert not entries and footer == ("empty",)


def test_listing_marks_active(delivery, lmtp_server):
    d, srv = start_with_lmtp(delivery, lmtp_server, **LONG_BACKOFF)
    # The first attempt, stalled after DATA: '*'.
    srv.stall()
    tok = token()
    qid = d.send(A, make_message(tok, to=A))
    srv.wait(lambda s: any(t["data"] is not None for t in s.transactions),
             "the message's DATA", diag=d.diag)
    e = d.wait_listed(qid, lambda e: e.flag == "*",
                      "as being delivered ('*', first attempt)")
    assert e.rcpts == [A], e
    srv.rule(None, "451 4.2.0 active test %s" % tok, stage="data")
    srv.unstall()
    d.wait_listed(qid, lambda e: e.flag == "" and "active test" in e.reason,
                  "as deferred")
    # A retry (from the deferred queue), stalled again: '*' too.
    srv.clear(None)
    srv.stall()
    n = len(srv.transactions)
    run(d, "flush", qid)
    srv.wait(lambda s: len(s.transactions) > n and
             s.transactions[-1]["data"] is not None, "the retry's DATA",
             diag=d.diag)
    d.wait_listed(qid, lambda e: e.flag == "*",
                  "as being delivered ('*', a retry of deferred mail)")
    srv.unstall()
    srv.wait(lambda s: s.delivered(A) == 1, "delivery", diag=d.diag)
    d.wait_queue_empty()


def test_hold_release_delete(delivery, lmtp_server):
    d, srv = start_with_lmtp(delivery, lmtp_server)
    tok = token()
    srv.rule(None, "451 4.2.0 hold test %s" % tok)
    qid = deferred(d, srv, [A], tok)
    said(run(d, "hold", qid), qid, "held")
    d.wait_listed(qid, lambda e: e.flag == "!", "as held ('!')")
    settle(1)       # an attempt already under way may finish
    n = srv.attempts(A)
    settle(4)       # several backoff periods and queue runs
    assert srv.attempts(A) == n, \
        "a held message was retried (%d -> %d attempts)\n%s" % (
            n, srv.attempts(A), d.diag())
    e = d.listing()[0][qid]
    assert e.flag == "!", e
    said(run(d, "release", qid), qid, "released")
    srv.wait(lambda s: s.attempts(A) > n, "a retry after release",
             diag=d.diag)
    d.wait_listed(qid, lambda e: e.flag != "!", "no longer held")
    said(run(d, "delete", qid), qid, "deleted")
    d.wait_queue_empty()
    entries, footer = d.listing()
    assert qid not in entries and footer == ("empty",), (entries, footer)
    assert not d.spool_has(qid), "%s still in %s/" % (qid, d.spool_has(qid))
    srv.clear(None)
    m = srv.attempts(A)
    run(d, "flush")
    settle(3)
    assert srv.attempts(A) == m and srv.delivered(A) == 0, \
        "a deleted message was tried again:\n" + srv.describe()
    assert not d.messages(SENDER), "delete must not notify the sender"


def test_flush_retries_at_once(delivery, lmtp_server):
    d, srv = start_with_lmtp(delivery, lmtp_server, **LONG_BACKOFF)
    tok = token()
    srv.rule(None, "451 4.2.0 flush test %s phase 0" % tok)
    qid = deferred(d, srv, [A], tok)
    # Each phase refuses with its own text; the listing showing it
    # means that attempt is over, so the next flush finds the message
    # deferred again (a flush of a message being delivered does
    # nothing).
    for phase, args in enumerate((("flush",), ("flush", qid),
                                  ("flush", "-d", LMTP_DOMAIN)), 1):
        n = srv.attempts(A)
        srv.rule(None, "451 4.2.0 flush test %s phase %d" % (tok, phase))
        run(d, *args)
        srv.wait(lambda s: s.attempts(A) > n, "a retry after `queue %s` "
                 "(the backoff is an hour)" % " ".join(args), diag=d.diag)
        d.wait_listed(qid, lambda e: "phase %d" % phase in e.reason,
                      "with the reason of the attempt after `queue %s`"
                      % " ".join(args))
    srv.clear(None)
    run(d, "flush")
    srv.wait(lambda s: s.delivered(A) == 1, "delivery after flush",
             diag=d.diag)
    d.wait_queue_empty()
    assert srv.delivered(A) == 1


def test_defer_transports_wait_for_flush(delivery, lmtp_server):
    """defer_transports: mail for a listed transport is deferred with
    "deferred transport" and never tried, even when its retry time
    comes, until `ostia queue flush` (Postfix's sendmail -q)."""
    d, srv = start_with_lmtp(delivery, lmtp_server, defer_transports="lmtp",
                             minimal_backoff_time="1s",
                             maximal_backoff_time="2s", queue_run_delay="1s")
    tok = token()
    qid = d.send([A], make_message(tok, to=A))
    d.wait_log(r"%s: to=<%s>, relay=lmtp, dsn=4\.3\.2, status=deferred "
               r"\(deferred transport: lmtp is in defer_transports; "
               r"`ostia queue flush` delivers it\)" % (qid, re.escape(A)))
    d.wait_listed(qid, lambda e: "deferred transport" in e.reason,
                  "deferred, with the reason")
    settle(3)           # retries come and go: still not tried
    assert srv.attempts(A) == 0, srv.describe()
    run(d, "flush")
    srv.wait(lambda s: s.delivered(A) == 1, "delivery after flush",
             diag=d.diag)
    d.wait_queue_empty()


def test_requeue(delivery, lmtp_server):
    d, srv = start_with_lmtp(delivery, lmtp_server, **LONG_BACKOFF)
    tok = token()
    srv.rule(None, "451 4.2.0 requeue test %s" % tok)
    qid = deferred(d, srv, [A], tok)
    srv.clear(None)
    r = run(d, "requeue", qid)
    said(r, qid, "")
    # Requeued mail goes through the queue manager again, now.
    srv.wait(lambda s: s.delivered(A) == 1, "delivery after requeue",
             diag=d.diag)
    d.wait_queue_empty()
    [data] = srv.delivered_data(A)
    assert ("Hello, this is %s." % tok).encode() in data


def test_all_forms(delivery, lmtp_server):
    d, srv = start_with_lmtp(delivery, lmtp_server, **LONG_BACKOFF)
    t1, t2 = token(), token()
    srv.rule(None, "451 4.2.0 all test")
    q1 = deferred(d, srv, [A], t1)
    q2 = deferred(d, srv, [B], t2)
    run(d, "hold", "ALL")
    for q in (q1, q2):
        d.wait_listed(q, lambda e: e.flag == "!", "held after hold ALL")
    r = run(d, "release", "ALL")
    for q in (q1, q2):
        said(r, q, "released")
        d.wait_listed(q, lambda e: e.flag != "!", "released")
    r = run(d, "delete", "ALL")
    for q in (q1, q2):
        said(r, q, "deleted")
    d.wait_queue_empty()
    n = srv.attempts(A) + srv.attempts(B)
    srv.clear(None)
    run(d, "flush")
    settle(2)
    assert srv.attempts(A) + srv.attempts(B) == n and \
        srv.delivered(A) + srv.delivered(B) == 0, srv.describe()


def test_unknown_id_and_unreachable(delivery, lmtp_server):
    d, srv = start_with_lmtp(delivery, lmtp_server)
    assert QUEUE_ID_RE.match(UNKNOWN_ID)
    for args in (("hold", UNKNOWN_ID), ("release", UNKNOWN_ID),
                 ("requeue", UNKNOWN_ID), ("delete", UNKNOWN_ID),
                 ("flush", UNKNOWN_ID), ("show", UNKNOWN_ID)):
        r = run(d, *args, expect=1)
        assert UNKNOWN_ID in r.stdout + r.stderr, \
            "ostia queue %s: the message should name the ID:\n%s%s" % (
                " ".join(args), r.stdout, r.stderr)
    assert d.o.stop() == 0, d.o.diagnostics()
    for args in (("hold", UNKNOWN_ID), ("flush",), ("delete", "ALL")):
        r = run(d, *args, expect=2)
        assert (r.stdout + r.stderr).strip(), \
            "ostia queue %s: exit 2 without a message" % " ".join(args)
    assert os.path.isdir(d.o.queue_dir)
