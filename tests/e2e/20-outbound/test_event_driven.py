# SPDX-License-Identifier: MIT
"""The event-driven smtp delivery agent: each smtp process serves many
deliveries at once on its event loop.

For a master.cf service whose command is smtp, maxproc counts
concurrent DELIVERIES (Postfix's meaning; "-" is default_process_limit)
and the master runs min(maxproc, CPU cores) processes, each taking its
share (rounded up) of the queue manager's connections
(src/common/master_cf.h, src/deliver/agent.c: agent_connection_cap).

- Many deliveries per process: N messages (N = 6, or cores + 1 on a
  machine with 6 cores or more, so that N always exceeds the number of
  processes) to a sink that holds every session after the message's
  final dot until all N are there at once.  The sink sees N at once, all
  are delivered, and the status=sent lines come from at most
  min(N, cores) smtp processes -- the ones `ostia status` lists.
- A stalled server does not hold up the other deliveries of its
  process: with maxproc = 2 x cores (so each process takes 2
  deliveries), 2 x cores - 1 deliveries stall at EHLO (the server greets
  and then says nothing until the test lets it), which leaves every
  process with at least one stalled delivery; a message to another
  server is then delivered, and only after that the stalled server is
  let go.  The process that delivered the fast message is one that had
  a stalled delivery open the whole time.
- Connection reuse still works: smtp_connection_cache_on_demand = yes,
  five messages to one next hop one after the other (each waited for):
  fewer connections than messages.

Every server is a scripted SMTP peer (smtp_peer.SmtpPeer) on 127.0.0.1
reached through transport_maps ([127.0.0.1]:PORT), with a DNS server
that knows no name.  No timing assertions: the orderings asserted are
ones the test makes happen (it releases a held server only after it saw
what it waits for); every wait is bounded.
"""

import os
import re
import threading
import time

from delivery_e2e import PROC, QUEUE_ID, token
from ostia_harness import wait_until
from outbound_e2e import message_for
from smtp_peer import SmtpPeer

# How long the sinks hold a session at most (then they answer anyway,
# so a broken agent makes the test fail, never hang).
HOLD_LIMIT = 30.0
# smtp_helo_timeout while a server is held at EHLO: far longer than
# any wait of the test, so the agent never gives up on its own.
LONG_TIMEOUT = "600s"
# Waits that may include a full HOLD_LIMIT.
LONG_WAIT = HOLD_LIMIT + 60.0


def cpu_cores():
    """Online CPU cores, as the master counts them (sysconf
    _SC_NPROCESSORS_ONLN, 1 to MASTER_SERVICE_PROCS_MAX = 64)."""
    try:
        n = os.sysconf("SC_NPROCESSORS_ONLN")
    except (ValueError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(int(n), 64))


def smtp_sent_pid(a, rcpt):
    """The pid of the smtp process whose status=sent line names rcpt
    (the first such line)."""
    rx = r"ostia/smtp\[(\d+)\]: %s: to=<%s>, .*status=sent " % (
        QUEUE_ID, re.escape(rcpt))
    m = re.search(rx, a.o.log_text(), re.M)
    assert m, "no status=sent line of an smtp process for %s\n%s" % (
        rcpt, a.diag())
    return int(m.group(1))


def smtp_service_status(a):
    """(process count the master runs, [pids]) of the smtp service, from
    `ostia status`."""
    out = a.o.cli("status").stdout
    m = re.search(r"^service smtp/unix .*?children=(\d+)/(\d+) .*?"
                  r"pids=([\d,]*)", out, re.M)
    assert m, "no smtp service in `ostia status`:\n" + out
    pids = [int(p) for p in m.group(3).split(",") if p]
    return int(m.group(2)), pids


def wait_smtp_processes(a, want):
    """Wait until the master runs `want` smtp processes (the count it
    plans: children=X/want); return their pids."""
    last = {}

    def ok():
        n, pids = smtp_service_status(a)
        last["v"] = (n, pids)
        return pids if n == want and len(pids) == want else None
    try:
        return wait_until(ok, 30, 0.1, "%d smtp processes" % want)
    except AssertionError as e:
        raise AssertionError("%s (status says %r)\n%s" % (
            e, last.get("v"), a.diag())) from None


def via_peers(mta, dns, routes, smtp_service, **params):
    """An Ostia whose smtp service is smtp_service, with transport_maps
    routes {domain: peer}."""
    a = mta("a.ostia.test")
    a.params["dns_resolvers"] = dns({}).resolvers
    a.params.update(params)
    a.smtp_service = smtp_service
    for domain, p in routes.items():
        a.route(domain, "smtp:" + p.nexthop)
    return a.start()


# ---------------------------------------------------------------- sinks

class DotBarrier:
    """on_message of an SmtpPeer: each session that reaches the final
    dot waits there until `parties` sessions are waiting at once (then
    all are answered), at most HOLD_LIMIT seconds; after a timeout no
    session waits any more.  Records the most sessions waiting at once
    (.max_waiting) and whether it gave up (.gave_up)."""

    def __init__(self, parties, limit=HOLD_LIMIT):
        self.parties = parties
        self.limit = limit
        self.cond = threading.Condition()
        self.waiting = 0
        self.max_waiting = 0
        self.opened = False
        self.gave_up = False
        self.seen = 0

    def __call__(self, txn):
        with self.cond:
            self.seen += 1
            n = self.seen
            self.waiting += 1
            self.max_waiting = max(self.max_waiting, self.waiting)
            if self.waiting >= self.parties:
                self.opened = True
                self.cond.notify_all()
            deadline = time.monotonic() + self.limit
            while not self.opened and not self.gave_up:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.gave_up = True
                    self.cond.notify_all()
                    break
                self.cond.wait(left)
            self.waiting -= 1
        return "250 2.0.0 Ok: queued as BARRIER%d" % n

    def describe(self):
        with self.cond:
            return ("barrier: parties=%d seen=%d max_waiting=%d opened=%r "
                    "gave_up=%r" % (self.parties, self.seen,
                                    self.max_waiting, self.opened,
                                    self.gave_up))


class EhloGatePeer(SmtpPeer):
    """An SmtpPeer that greets and then holds its reply to EHLO until
    open_gate() (or HOLD_LIMIT seconds, or close()); .held counts the
    sessions waiting at the gate, .passed those let through."""

    def __init__(self, limit=HOLD_LIMIT, **kwargs):
        self.gate = threading.Event()
        self.gate_limit = limit
        self.gate_cond = threading.Condition()
        self.held = 0
        self.passed = 0
        super().__init__(**kwargs)

    def _rule(self, stage, rcpt=None):
        if stage == "ehlo":
            with self.gate_cond:
                self.held += 1
                self.gate_cond.notify_all()
            deadline = time.monotonic() + self.gate_limit
            while not self.gate.is_set() and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.gate.wait(min(left, 0.2))
            with self.gate_cond:
                self.held -= 1
                self.passed += 1
        return super()._rule(stage, rcpt)

    def open_gate(self):
        self.gate.set()

    def gate_state(self):
        with self.gate_cond:
            return self.held, self.passed

    def close(self):
        self.gate.set()
        super().close()


# ---------------------------------------------------------------- tests

def test_many_deliveries_per_process(mta, peer, dns):
    """N deliveries at once from min(N, cores) < N smtp processes."""
    cores = cpu_cores()
    n = 6 if cores < 6 else cores + 1
    procs = min(n, cores)
    barrier = DotBarrier(n)
    sink = peer(on_message=barrier)
    a = via_peers(mta, dns, {"many.test": sink},
                  "smtp unix - - n - %d smtp\n" % n,
                  default_destination_concurrency_limit=str(n + 10),
                  initial_destination_concurrency=str(n + 10),
                  smtp_data_done_timeout=LONG_TIMEOUT)
    pids = wait_smtp_processes(a, procs)
    rcpts = ["r%d@many.test" % i for i in range(n)]
    for r in rcpts:
        a.send(r, message_for(token(), r))

    def diag():
        return barrier.describe() + "\n" + a.diag()
    sink.wait(lambda s: all(s.delivered(r) == 1 for r in rcpts),
              "all %d messages at the sink" % n, timeout=LONG_WAIT,
              diag=diag)
    for r in rcpts:
        a.wait_sent(r, timeout=LONG_WAIT)
    a.wait_queue_empty()
    assert not barrier.gave_up and barrier.max_waiting >= n, \
        "the sink never had %d sessions at the final dot at once " \
        "(maxproc %d should give %d concurrent deliveries):\n%s\n%s" % (
            n, n, n, barrier.describe(), sink.describe())
    senders = {r: smtp_sent_pid(a, r) for r in rcpts}
    distinct = set(senders.values())
    assert len(distinct) <= procs, \
        "%d deliveries logged by %d smtp processes, at most %d expected " \
        "(min(maxproc %d, %d cores)): %r\n%s" % (
            n, len(distinct), procs, n, cores, senders, a.diag())
    assert len(distinct) < n, \
        "no process delivered more than one message at once: %r" % senders
    assert distinct <= set(pids), \
        "deliveries logged by processes that are not the smtp service's " \
        "(%r; the master listed %r): restarted?\n%s" % (
            senders, pids, a.diag())
    n_now, pids_now = smtp_service_status(a)
    assert n_now == procs and set(pids_now) == set(pids), \
        "the smtp processes changed during the test: %r -> %r\n%s" % (
            pids, pids_now, a.diag())


def test_stalled_server_does_not_hold_up_its_process(mta, peer, dns):
    """Every smtp process has a delivery stalled at EHLO; a message to
    another server still goes out, from one of those processes, while
    the stalled sessions stay open."""
    cores = cpu_cores()
    conc = 2 * cores            # each process takes 2 deliveries
    procs = min(conc, cores)
    nstall = conc - 1           # every process gets at least one
    stall = peer(cls=EhloGatePeer, name="stall.test")
    fast = peer(name="fast.test")
    a = via_peers(mta, dns, {"stall.test": stall, "fast.test": fast},
                  "smtp unix - - n - %d smtp\n" % conc,
                  default_destination_concurrency_limit=str(conc + 10),
                  initial_destination_concurrency=str(conc + 10),
                  smtp_helo_timeout=LONG_TIMEOUT)
    pids = wait_smtp_processes(a, procs)

    def diag():
        return "gate (held, passed) = %r\n--- fast peer ---\n%s\n%s" % (
            stall.gate_state(), fast.describe(), a.diag())
    stalled = ["s%d@stall.test" % i for i in range(nstall)]
    for r in stalled:
        a.send(r, message_for(token(), r))
    stall.wait(lambda s: s.gate_state() == (nstall, 0),
               "%d sessions held at EHLO" % nstall, diag=diag)

    # Each process takes 2 deliveries and 2 x procs - 1 are stalled:
    # the one free slot is in a process with a stalled delivery.
    fast_rcpt = "bob@fast.test"
    a.send(fast_rcpt, message_for(token(), fast_rcpt))
    fast.wait(lambda s: s.delivered(fast_rcpt) == 1,
              "delivery to the fast server while %d deliveries are "
              "stalled" % nstall, diag=diag)
    a.wait_sent(fast_rcpt)
    fast_pid = smtp_sent_pid(a, fast_rcpt)
    # Still held: nothing was let through, no session gave up.
    assert stall.gate_state() == (nstall, 0), diag()
    with stall.lock:
        seen = (stall.connections, len(stall.transactions))
    assert seen == (nstall, 0), \
        "(connections, transactions) = %r at the stalled server\n%s" % (
            seen, stall.describe())

    stall.open_gate()
    stall.wait(lambda s: all(s.delivered(r) == 1 for r in stalled),
               "the stalled deliveries, once let go", diag=diag)
    for r in stalled:
        a.wait_sent(r)
    a.wait_queue_empty()
    # Each stalled message went out on the connection it opened before
    # the fast message was sent (no second connection, no retry): the
    # process that logged it held that session all along.
    assert stall.connections == nstall, \
        "the stalled server saw %d connections for %d messages (a retry?):" \
        "\n%s\n%s" % (stall.connections, nstall, stall.describe(), diag())
    assert not re.search(PROC + QUEUE_ID + r": to=<s\d+@stall\.test>.*"
                         r"status=deferred", a.o.log_text()), diag()
    stalled_pids = {r: smtp_sent_pid(a, r) for r in stalled}
    assert set(stalled_pids.values()) <= set(pids), \
        "stalled deliveries logged by processes that are not the smtp " \
        "service's (%r; the master listed %r)\n%s" % (
            stalled_pids, pids, diag())
    assert fast_pid in stalled_pids.values(), \
        "the fast message was delivered by smtp[%d], which had no " \
        "stalled delivery; stalled ones: %r (every process should have " \
        "had one: %d processes, 2 deliveries each, %d stalled)\n%s" % (
            fast_pid, stalled_pids, procs, nstall, diag())


def test_connection_reuse_with_concurrency(mta, peer, dns):
    """smtp_connection_cache_on_demand = yes: five messages to one next
    hop, one after the other, take fewer than five connections."""
    sink = peer(name="reuse.test")
    a = via_peers(mta, dns, {"reuse.test": sink},
                  "smtp unix - - n - - smtp\n",
                  smtp_connection_cache_on_demand="yes",
                  # Longer than any gap between two messages here.
                  smtp_connection_cache_time_limit="300s")
    rcpts = ["u%d@reuse.test" % i for i in range(5)]
    for r in rcpts:
        a.send(r, message_for(token(), r))
        sink.wait(lambda s, r=r: s.delivered(r) == 1, "delivery to %s" % r,
                  diag=a.diag)
        a.wait_sent(r)
    a.wait_queue_empty()
    assert all(sink.delivered(r) == 1 for r in rcpts), sink.describe()
    assert sink.connections < len(rcpts), \
        "%d connections for %d messages to one next hop with " \
        "smtp_connection_cache_on_demand = yes: no connection was " \
        "reused\n%s\n%s" % (sink.connections, len(rcpts), sink.describe(),
                            a.diag())
