# SPDX-License-Identifier: MIT
"""Durable queue writes: smtpd, the queue process and `ostia queue`.

The contract under test (src/queue/queue_service.h, docs/queue-format.md):
smtpd answers "250 2.0.0 Ok: queued as ID" only after the queue process
marked incoming/ID committed (mode 0600; it is partial, mode 0200, while
smtpd writes it), synced it, and then synced incoming/;
a transaction that ends any other way (client gone, smtpd or queue process
killed, a write error) leaves nothing in tmp/ or incoming/ once the queue
process cleaned up.

Each test starts the real `ostia` in its own temporary directory and drives
it with raw SMTP clients, signals and the `ostia queue` CLI.  Every message
carries a unique token, so a queue file can be matched to the client that
sent it.  Nothing here asserts how fast anything happens.
"""

import fcntl
import glob
import os
import random
import re
import secrets
import signal
import subprocess
import threading
import time

import pytest

from ostia_harness import (SmtpError, attach_strace, committed_files,
                           connect_smtp, exact_content_factory, find_binary,
                           partial_files, unfinished_files, wait_until)

ROOT = os.geteuid() == 0
TOKEN_RE = re.compile(rb"tok-[0-9a-f]{24}")
# The trace header smtpd puts first: "Received: ..." plus folded lines.
RECEIVED_RE = re.compile(rb"\AReceived: [^\r\n]*\r\n(?:\t[^\r\n]*\r\n)*\Z")
QUEUED_RE = re.compile(r"\A2\.0\.0 Ok: queued as ([0-9A-HJKMNP-TV-Z]{16})\Z")
QUEUE_BAD_LOG = re.compile(r"ostia/queue\[\d+\]: (?:warning|error|fatal|"
                           r"panic): .*$", re.M)


# ---------------------------------------------------------------- helpers

def child_argv(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def smtpd_pids(o):
    """Children of the master that run an inet (smtpd) service."""
    out = []
    for pid in o.child_pids():
        argv = child_argv(pid)
        if b"child" in argv and argv[argv.index(b"child") + 2] == b"inet":
            out.append(pid)
    return out


def queue_pids(o):
    """Children of the master that run the internal queue service."""
    out = []
    for pid in o.child_pids():
        argv = child_argv(pid)
        if b"child" in argv:
            i = argv.index(b"child")
            if argv[i + 1:i + 3] == [b"queue", b"internal"]:
                out.append(pid)
    return out


def all_ready(o):
    """Wait until every child of every service told the master it is
    ready."""
    def ready():
        st = o.cli("status").stdout
        svcs = [l for l in st.splitlines() if l.startswith("service ")]
        if not svcs:
            return False
        for l in svcs:
            m = re.search(r"children=(\d+)/(\d+) ready=(\d+)", l)
            if not m or not (m.group(1) == m.group(2) == m.group(3)):
                return False
        return True
    wait_until(ready, timeout=30, what="all children ready")


def spool(o, sub):
    return os.path.join(o.queue_dir, sub)


def listdir(o, sub):
    try:
        return sorted(os.listdir(spool(o, sub)))
    except FileNotFoundError:
        return []


def read_incoming(o, qid):
    with open(os.path.join(spool(o, "incoming"), qid), "rb") as f:
        return f.read()


def incoming_tokens(o):
    """Map token -> queue file name for every committed file in incoming/.

    A file must hold exactly one distinct token (every message embeds one).
    """
    out = {}
    for name in committed_files(o.queue_dir):
        try:
            data = read_incoming(o, name)
        except FileNotFoundError:
            continue
        toks = set(TOKEN_RE.findall(data))
        assert len(toks) == 1, "incoming/%s holds tokens %r" % (name, toks)
        tok = toks.pop().decode()
        assert tok not in out, "token %s in %s and %s" % (tok, out[tok], name)
        out[tok] = name
    return out


def queue_show(o, qid):
    """Run `ostia queue show ID` in binary mode (CRLF must survive)."""
    return subprocess.run([o.binary, "-c", o.confdir, "queue", "show", qid],
                          stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=60)


def shown_content(stdout):
    """The message bytes printed by `queue show` (after its header)."""
    m = re.search(rb"^message-size: (\d+)\n\n", stdout, re.M)
    assert m, "no message-size line in %r" % stdout[:500]
    content = stdout[m.end():]
    assert len(content) == int(m.group(1)), \
        "message-size %s but %d bytes printed" % (m.group(1), len(content))
    return content


def assert_queued_exactly(o, qid, body):
    """incoming/qid parses and holds the Received: header plus body."""
    r = queue_show(o, qid)
    assert r.returncode == 0, "queue show %s exited %d: %r" % (
        qid, r.returncode, r.stderr)
    assert ("id: %s\n" % qid).encode() in r.stdout
    content = shown_content(r.stdout)
    assert content.endswith(body), \
        "%s: body differs from what the client sent:\n%r\nvs\n%r" % (
            qid, content[-len(body) - 40:], body)
    assert RECEIVED_RE.match(content[:len(content) - len(body)]), \
        "%s: unexpected bytes before the body: %r" % (
            qid, content[:len(content) - len(body)])


def new_token():
    return "tok-" + secrets.token_hex(12)


def make_body(token, nlines=8):
    """A message whose every line names token (CRLF, no dot lines)."""
    lines = ["Subject: queue test %s" % token,
             "Message-ID: <%s@client.example>" % token, ""]
    for i in range(nlines):
        lines.append("line %d of %s %s" % (i, token, "x" * 60))
    return ("\r\n".join(lines) + "\r\n").encode()


def session(o, timeout=30.0):
    """Connect, read the greeting, EHLO; return the client."""
    c = connect_smtp("127.0.0.1", o.port, timeout)
    try:
        c.expect(220)
        c.command("EHLO client.example", expect=250)
    except BaseException:
        c.close()
        raise
    return c


def send_message(c, body, rcpt="rcpt@example.org"):
    """MAIL, RCPT, DATA, body, "."; return the final reply."""
    c.command("MAIL FROM:<sender@example.net>", expect=250)
    c.command("RCPT TO:<%s>" % rcpt, expect=250)
    c.command("DATA", expect=354)
    c.send_raw(body + b".\r\n")
    return c.read_reply()


def queued_id(reply):
    """The ID of a "250 2.0.0 Ok: queued as ID" reply, else None."""
    if reply.code != 250:
        return None
    m = QUEUED_RE.match(reply.text)
    return m.group(1) if m else None


def queue_one(o, rcpt="rcpt@example.org"):
    """Send one message on a fresh session; assert it is queued.

    Returns (id, token, body).
    """
    token = new_token()
    body = make_body(token)
    with session(o) as c:
        r = send_message(c, body, rcpt)
        qid = queued_id(r)
        assert qid, "message not queued: %r" % r
        c.command("QUIT", expect=221)
    return qid, token, body


# ---------------------------------------------------------------- traffic

class Msg:
    """One message attempt by one traffic client."""

    def __init__(self, client, token, body):
        self.client = client
        self.token = token
        self.body = body
        self.stage = "envelope"  # -> "data" (354 seen) -> "dot" (sent)
        self.outcome = None      # "queued", "reply", "lost"
        self.reply = None
        self.id = None
        self.error = None
        self.started = time.monotonic()

    def __repr__(self):
        return ("Msg(client=%d token=%s stage=%s outcome=%s reply=%r id=%s "
                "error=%s)" % (self.client, self.token, self.stage,
                               self.outcome, self.reply, self.id, self.error))


class Traffic:
    """n clients sending messages in a loop, each body in slow chunks so
    that at any moment most of them are in the middle of DATA."""

    def __init__(self, o, n, chunks=8, pause=0.01):
        self.o = o
        self.n = n
        self.chunks = chunks
        self.pause = pause
        self.lock = threading.Lock()
        self.msgs = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,),
                                         daemon=True) for i in range(n)]
        self.unexpected = []

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(180)
            assert not t.is_alive(), "a traffic client did not finish"
        assert not self.unexpected, "client errors: %r" % self.unexpected

    def snapshot(self):
        with self.lock:
            return list(self.msgs)

    def count(self, pred):
        with self.lock:
            return sum(1 for m in self.msgs if pred(m))

    def _send(self, c, m, rng):
        r = c.command("MAIL FROM:<sender@example.net>")
        if r.code != 250:
            return r
        r = c.command("RCPT TO:<rcpt%d@example.org>" % m.client)
        if r.code != 250:
            return r
        r = c.command("DATA")
        if r.code != 354:
            return r
        m.stage = "data"
        # Random chunking and pauses so that the clients drift apart and
        # a kill finds them at different points.
        step = max(1, len(m.body) // rng.randint(1, self.chunks))
        for off in range(0, len(m.body), step):
            c.send_raw(m.body[off:off + step])
            time.sleep(rng.uniform(0, 2 * self.pause))
        m.stage = "dot"
        c.send_raw(b".\r\n")
        return c.read_reply()

    def _run(self, idx):
        rng = random.Random(secrets.randbits(64))
        c = None
        while not self.stop.is_set():
            if c is None:
                try:
                    c = session(self.o, timeout=90)
                except (OSError, EOFError, SmtpError):
                    c = None
                    time.sleep(0.05)
                    continue
            token = new_token()
            m = Msg(idx, token, make_body(token))
            with self.lock:
                self.msgs.append(m)
            try:
                r = self._send(c, m, rng)
            except (OSError, EOFError, SmtpError) as exc:
                m.outcome, m.error = "lost", repr(exc)
                c.close()
                c = None
                continue
            except Exception as exc:  # a bug in this test: report it
                m.outcome, m.error = "lost", repr(exc)
                self.unexpected.append(repr(exc))
                c.close()
                return
            m.reply = r
            m.id = queued_id(r)
            if m.id is not None:
                m.outcome = "queued"
                continue
            m.outcome = "reply"
            try:
                c.command("RSET", expect=250)
            except (OSError, EOFError, SmtpError):
                c.close()
                c = None
        if c is not None:
            try:
                c.command("QUIT")
            except (OSError, EOFError, SmtpError):
                pass
            c.close()


def check_spool_after_crash(o, msgs, may_be_committed):
    """Common checks after a crash.

    Every 250'd message is in incoming/ with its exact body; every file in
    incoming/ parses and belongs to a message; a message that did not get
    250 is in incoming/ only if may_be_committed(m) (the client had sent
    "." and could not learn the outcome), and then complete.
    Returns the number of such ambiguous messages found in incoming/.
    """
    r = o.cli("queue", "list")
    assert r.returncode == 0, "queue list: %s" % r.stderr
    tokens = incoming_tokens(o)
    by_token = {m.token: m for m in msgs}
    for tok, name in tokens.items():
        assert tok in by_token, "incoming/%s holds unknown token %s" % (
            name, tok)
    queued = [m for m in msgs if m.outcome == "queued"]
    assert len({m.id for m in queued}) == len(queued), "an ID was reused"
    for m in queued:
        assert tokens.get(m.token) == m.id, \
            "250 for %s but incoming/ has %r" % (m, tokens.get(m.token))
        assert_queued_exactly(o, m.id, m.body)
    ambiguous = 0
    for m in msgs:
        if m.outcome == "queued" or m.token not in tokens:
            continue
        assert may_be_committed(m), \
            "not acknowledged but in incoming/%s: %r" % (tokens[m.token], m)
        assert_queued_exactly(o, tokens[m.token], m.body)
        ambiguous += 1
    assert len(tokens) == len(queued) + ambiguous
    stats = {}
    for m in msgs:
        key = "%s/%s" % (m.outcome, m.stage)
        stats[key] = stats.get(key, 0) + 1
    print("messages by outcome/stage: %r; not acknowledged but committed: "
          "%d" % (sorted(stats.items()), ambiguous))
    return ambiguous


def unfinished(o):
    """Partial files in incoming/ and files in tmp/."""
    return unfinished_files(o.queue_dir)


def wait_unfinished_gone(o):
    wait_until(lambda: unfinished(o) == [], timeout=60,
               what="no unfinished queue file (left: %r)" % unfinished(o))


@pytest.fixture
def ostia_factory(ostia_factory):
    """conftest's factory with notify_classes empty.  These tests count
    every file in the spool, partial ones too; with the default
    notify_classes ("resource, software") smtpd also queues a transcript
    for the postmaster after each 451 they provoke, a file of its own
    that would be counted (15-delivery/test_notify_classes.py tests those
    notices).  The stored messages are compared with what was sent byte
    for byte (ostia_harness.exact_content_factory)."""
    exact = exact_content_factory(ostia_factory)

    def make(**kwargs):
        main_cf = dict(kwargs.pop("main_cf", None) or {})
        main_cf.setdefault("notify_classes", "")
        return exact(main_cf=main_cf, **kwargs)
    return make


def start_ostia(ostia_factory, verbose=False, **kwargs):
    o = ostia_factory(**kwargs)
    o.start_foreground(extra_args=("-v",) if verbose else ())
    all_ready(o)
    return o


# ---------------------------------------------------------------- 1. crashes

def wait_mid_data(traffic, since, nqueued=20, ndata=5):
    """Wait until nqueued messages begun after `since` were queued and
    ndata clients are in the middle of DATA; sleep a random moment."""
    wait_until(lambda: traffic.count(lambda m: m.outcome == "queued" and
                                     m.started > since) >= nqueued,
               timeout=120, what="%d messages queued" % nqueued)
    wait_until(lambda: traffic.count(lambda m: m.stage == "data" and
                                     m.outcome is None) >= ndata,
               timeout=60, what="%d clients in the middle of DATA" % ndata)
    time.sleep(random.uniform(0, 0.05))


def dead(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


KILL_ROUNDS = 3


def test_smtpd_sigkill_mid_data_loses_no_acknowledged_message(
        ostia_factory):
    o = start_ostia(ostia_factory)
    traffic = Traffic(o, 20).start()
    try:
        since = 0.0
        for _ in range(KILL_ROUNDS):
            [old] = smtpd_pids(o)
            wait_mid_data(traffic, since)
            os.kill(old, signal.SIGKILL)
            since = time.monotonic()
            wait_until(lambda: [p for p in smtpd_pids(o) if p != old],
                       timeout=60, what="a new smtpd process")
            all_ready(o)
        # Traffic resumes with the last new smtpd.
        wait_until(lambda: traffic.count(
            lambda m: m.outcome == "queued" and m.started > since) >= 20,
            timeout=120, what="20 messages queued after the last restart")
    finally:
        traffic.join()
    msgs = traffic.snapshot()
    # Every kill cut connections of clients that were mid-DATA.
    assert sum(m.outcome == "lost" and m.stage == "data"
               for m in msgs) >= KILL_ROUNDS
    for m in msgs:
        # smtpd was killed, not the queue: nothing to refuse for.
        assert m.outcome in ("queued", "lost"), "unexpected: %r" % m
    # The queue process removes the file of every transaction whose smtpd
    # connection closed.
    wait_unfinished_gone(o)
    check_spool_after_crash(
        o, msgs, lambda m: m.outcome == "lost" and m.stage == "dot")
    # The master restarted smtpd and the new one accepts mail.
    o.wait_for_log(r"ostia/master\[\d+\]: warning: service 127\.0\.0\.1:%d/"
                   r"inet: child \d+ \(smtpd\) was killed by signal 9"
                   % o.port)
    qid, _, body = queue_one(o)
    assert_queued_exactly(o, qid, body)
    assert unfinished(o) == []


def test_queue_sigkill_mid_traffic_loses_no_acknowledged_message(
        ostia_factory):
    o = start_ostia(ostia_factory)
    [smtpd] = smtpd_pids(o)
    traffic = Traffic(o, 20).start()
    try:
        since = 0.0
        for _ in range(KILL_ROUNDS):
            [old] = queue_pids(o)
            wait_mid_data(traffic, since)
            mark = o.log_mark()
            # Every partial file now is the old process's: it must be
            # committed or removed, never stay partial.
            left = partial_files(o.queue_dir)
            os.kill(old, signal.SIGKILL)
            since = time.monotonic()
            wait_until(lambda: dead(old), what="the queue process to die")
            new = wait_until(lambda: [p for p in queue_pids(o) if p != old],
                             timeout=60, what="a new queue process")[0]
            all_ready(o)
            # Clients were mid-DATA: their partial files stayed in
            # incoming/ and the new queue process removes them when it
            # holds the lock on incoming/.
            m = o.wait_for_log(r"ostia/queue\[%d\]: removed (\d+) unfinished "
                               r"queue files? left by a stopped process"
                               % new, start=mark)
            assert int(m.group(1)) >= 1
            for f in left:
                assert f not in partial_files(o.queue_dir)
        # Traffic goes on with the new queue process.
        wait_until(lambda: traffic.count(
            lambda m: m.outcome == "queued" and m.started > since) >= 20,
            timeout=120, what="20 messages queued after the last restart")
    finally:
        traffic.join()
    # smtpd itself was not touched.
    assert smtpd_pids(o) == [smtpd]
    msgs = traffic.snapshot()
    refused = []
    for msg in msgs:
        assert msg.outcome in ("queued", "lost", "reply"), msg
        if msg.outcome == "reply":
            assert msg.reply.code == 451 and \
                msg.reply.text.startswith("4.3.0"), \
                "refused otherwise than 451 4.3.0: %r" % msg
            refused.append(msg)
    # Clients that were in DATA or waiting for the commit were told.
    assert len(refused) >= KILL_ROUNDS
    wait_unfinished_gone(o)
    # A 451 after "." may follow a commit the dead process could not
    # confirm (a duplicate, never a loss): such a file must be complete.
    check_spool_after_crash(
        o, msgs, lambda m: m.stage == "dot" and m.outcome in ("lost",
                                                               "reply"))
    # smtpd says which messages it could not queue (the wording depends
    # on whether the client was still writing or waiting for the commit).
    o.wait_for_log(r"ostia/smtpd\[%d\]: error: [0-9A-Z]{16}: (?:not queued|"
                   r"cannot complete the queue file|cannot commit the "
                   r"message)" % smtpd)
    qid, _, body = queue_one(o)
    assert_queued_exactly(o, qid, body)


def test_queue_killed_while_clients_wait_for_the_commit(ostia_factory):
    """Deterministic variant: the queue process is stopped (SIGSTOP) so
    that every client's COMMIT is pending, then killed."""
    n = 5
    o = start_ostia(ostia_factory)
    [old] = queue_pids(o)
    clients, tokens = [], []
    for _ in range(n):
        c = session(o)
        c.command("MAIL FROM:<sender@example.net>", expect=250)
        c.command("RCPT TO:<rcpt@example.org>", expect=250)
        c.command("DATA", expect=354)
        tokens.append(new_token())
        c.send_raw(make_body(tokens[-1]))
        clients.append(c)
    assert len(partial_files(o.queue_dir)) == n
    mark = o.log_mark()
    os.kill(old, signal.SIGSTOP)
    try:
        for c in clients:
            c.send_raw(b".\r\n")
        # smtpd sent COMMIT and waits; nothing can answer yet.
        time.sleep(0.5)
        for c in clients:
            assert c.buffered() == b""
    finally:
        os.kill(old, signal.SIGKILL)
    for c in clients:
        r = c.read_reply(timeout=90)
        assert r.code == 451 and r.text.startswith("4.3.0"), r
        c.command("RSET", expect=250)
    o.wait_for_log(r"ostia/smtpd\[\d+\]: error: [0-9A-Z]{16}: not queued: "
                   r"(?:lost the connection to|the queue process closed)",
                   start=mark)
    new = wait_until(lambda: [p for p in queue_pids(o) if p != old],
                     timeout=60, what="a new queue process")[0]
    m = o.wait_for_log(r"ostia/queue\[%d\]: removed (\d+) unfinished queue "
                       r"files? left by a stopped process" % new, start=mark)
    assert int(m.group(1)) == n
    assert unfinished(o) == []
    assert listdir(o, "incoming") == []
    # The same sessions go on with the new queue process.
    for c in clients:
        token = new_token()
        body = make_body(token)
        qid = queued_id(send_message(c, body))
        assert qid
        assert_queued_exactly(o, qid, body)
        c.command("QUIT", expect=221)
        c.close()
    assert unfinished(o) == []
    assert not any(t in incoming_tokens(o) for t in tokens)


# ---------------------------------------------------------------- 2. client gone

def test_client_disconnect_mid_data_leaves_nothing(ostia_factory):
    o = start_ostia(ostia_factory, verbose=True)
    mark = o.log_mark()
    token = new_token()
    c = session(o)
    c.command("MAIL FROM:<sender@example.net>", expect=250)
    c.command("RCPT TO:<rcpt@example.org>", expect=250)
    c.command("DATA", expect=354)
    c.send_raw(make_body(token)[:200])
    # The queue file exists while the client writes.
    wait_until(lambda: len(partial_files(o.queue_dir)) == 1,
               what="a partial file in incoming/")
    m = o.wait_for_log(r"ostia/smtpd\[\d+\]: ([0-9A-Z]{16}): client=",
                       start=mark)
    qid = m.group(1)
    assert partial_files(o.queue_dir) == [qid]
    c.close()
    o.wait_for_log(r"%s: message not queued: the client went away" % qid,
                   start=mark)
    wait_unfinished_gone(o)
    assert listdir(o, "incoming") == []
    o.wait_for_log(r"ostia/queue\[\d+\]: %s: transaction abandoned; "
                   r"removed incoming/%s$" % (qid, qid), start=mark)
    assert o.cli("queue", "list", check=True).stdout.strip() \
        .endswith("-- 0 messages in %s" % spool(o, "incoming"))
    # Also after "." was never sent but the whole body was.
    c = session(o)
    c.command("MAIL FROM:<sender@example.net>", expect=250)
    c.command("RCPT TO:<rcpt@example.org>", expect=250)
    c.command("DATA", expect=354)
    c.send_raw(make_body(new_token()))
    c.close()
    wait_until(lambda: o.log_text().count("the client went away") >= 2,
               what="the second abandoned message logged")
    wait_unfinished_gone(o)
    assert listdir(o, "incoming") == []
    assert not QUEUE_BAD_LOG.search(o.log_text(), mark)


def test_partial_files_are_not_messages_and_only_orphans_are_swept(
        ostia_factory):
    """A file being received is incoming/ID with mode 0200: the queue
    tools do not show it as a message.  A queue process that starts
    removes the partial files that no live process holds a lock on, and
    only those."""
    if not ROOT:
        pytest.skip("needs root to plant files in the spool of mail_owner")
    o = start_ostia(ostia_factory)
    c = session(o)
    c.command("MAIL FROM:<sender@example.net>", expect=250)
    c.command("RCPT TO:<rcpt@example.org>", expect=250)
    c.command("DATA", expect=354)
    body = make_body(new_token())
    c.send_raw(body[:200])
    [qid] = wait_until(lambda: partial_files(o.queue_dir),
                       what="a partial file in incoming/")
    st = os.stat(os.path.join(spool(o, "incoming"), qid))
    assert st.st_mode & 0o7777 == 0o200
    r = o.cli("queue", "list", check=True)
    assert r.stdout.strip() == "-- 0 messages in %s" % spool(o, "incoming")
    r = o.cli("queue", check=True)
    assert "Mail queue is empty" in r.stdout
    r = o.cli("queue", "show", qid)
    assert r.returncode != 0
    assert "still being received (not queued yet)" in r.stderr, r.stderr

    # Two planted partial files, owned like the spool: one held by a
    # live process (this one), one by nobody.
    incoming = spool(o, "incoming")
    dst = os.stat(incoming)
    held_id, orphan_id = "0000000000000001", "0000000000000002"
    fds = {}
    for name in (held_id, orphan_id):
        path = os.path.join(incoming, name)
        fds[name] = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                            0o200)
        os.fchown(fds[name], dst.st_uid, dst.st_gid)
        os.fchmod(fds[name], 0o200)
        os.write(fds[name], b"half a queue file")
    fcntl.flock(fds[held_id], fcntl.LOCK_EX)
    os.close(fds[orphan_id])
    try:
        [old] = queue_pids(o)
        mark = o.log_mark()
        os.kill(old, signal.SIGKILL)
        wait_until(lambda: dead(old), what="the queue process to die")
        new = wait_until(lambda: [p for p in queue_pids(o) if p != old],
                         timeout=60, what="a new queue process")[0]
        # The client's file (its writer died) and the orphan go.
        m = o.wait_for_log(r"ostia/queue\[%d\]: removed (\d+) unfinished "
                           r"queue files? left by a stopped process" % new,
                           start=mark)
        assert int(m.group(1)) == 2
        assert partial_files(o.queue_dir) == [held_id]
        # The client finishes; its transaction died with the process.
        c.send_raw(body[200:] + b".\r\n")
        r = c.read_reply(timeout=60)
        assert r.code == 451 and r.text.startswith("4.3.0"), r
        c.close()
    finally:
        os.close(fds[held_id])
        os.unlink(os.path.join(incoming, held_id))
    qid, _, body = queue_one(o)
    assert_queued_exactly(o, qid, body)
    assert unfinished(o) == []


# ---------------------------------------------------------------- 3. write failure

@pytest.mark.skipif(not ROOT, reason="needs root to chmod the spool of "
                    "mail_owner")
def test_failed_file_creation_answers_451_and_leaves_nothing(ostia_factory):
    """The queue file cannot be made in incoming/: DATA gets 451, both
    sides log why, and the session goes on."""
    o = start_ostia(ostia_factory)
    incoming = spool(o, "incoming")
    mode = os.stat(incoming).st_mode & 0o7777
    mark = o.log_mark()
    os.chmod(incoming, 0o500)
    try:
        with session(o) as c:
            c.command("MAIL FROM:<sender@example.net>", expect=250)
            c.command("RCPT TO:<rcpt@example.org>", expect=250)
            r = c.command("DATA")
            assert r.code == 451 and r.text.startswith("4.3.0"), r
            # The session goes on.
            c.command("RSET", expect=250)
            c.command("QUIT", expect=221)
        o.wait_for_log(r"ostia/queue\[\d+\]: warning: [0-9A-Z]{16}: not "
                       r"queued: cannot create a queue file in incoming: "
                       r"Permission denied", start=mark)
        o.wait_for_log(r"ostia/smtpd\[\d+\]: error: unknown\[127\.0\.0\.1\]: "
                       r"no queue file: cannot create a queue file in "
                       r"incoming: Permission denied", start=mark)
        assert unfinished(o) == []
        assert listdir(o, "incoming") == []
    finally:
        os.chmod(incoming, mode)
    qid, _, body = queue_one(o)
    assert_queued_exactly(o, qid, body)
    assert unfinished(o) == []
    assert listdir(o, "incoming") == [qid]


# ---------------------------------------------------------------- 4. minfree

def test_queue_minfree_larger_than_the_disk_refuses_mail(ostia_factory):
    o = ostia_factory(main_cf={"queue_minfree": 9000000000000000000})
    o.start_foreground()
    all_ready(o)
    mark = o.log_mark()
    with session(o) as c:
        r = c.command("MAIL FROM:<sender@example.net>")
        assert r.code == 452 and r.text.startswith("4.3.1"), r
        # No transaction was opened.
        r = c.command("RCPT TO:<rcpt@example.org>")
        assert r.code == 503, r
        c.command("QUIT", expect=221)
    o.wait_for_log(r"not enough free space in %s \(queue_minfree\)"
                   % re.escape(o.queue_dir), start=mark)
    assert unfinished(o) == []
    assert listdir(o, "incoming") == []

    # A SIZE= announcement counts on top of queue_minfree.
    with session(o) as c:
        r = c.command("MAIL FROM:<sender@example.net> SIZE=1000")
        assert r.code == 452 and r.text.startswith("4.3.1"), r

    o.stop()
    o.set_param("queue_minfree", 0)
    o.start_foreground()
    all_ready(o)
    qid, _, body = queue_one(o)
    assert_queued_exactly(o, qid, body)


def test_huge_size_does_not_wrap_the_free_space_check(ostia_factory):
    o = ostia_factory(main_cf={"queue_minfree": 1000000,
                               "message_size_limit": 0})
    o.start_foreground()
    all_ready(o)
    with session(o) as c:
        # Without wrapping, a smaller huge SIZE is refused ...
        r = c.command("MAIL FROM:<sender@example.net> "
                      "SIZE=9000000000000000000")
        assert r.code == 452 and r.text.startswith("4.3.1"), r
        # ... and so must be a larger one (1000000 + this > 2**64).
        r = c.command("MAIL FROM:<sender@example.net> "
                      "SIZE=18446744073709000000")
        assert r.code == 452 and r.text.startswith("4.3.1"), r


# ---------------------------------------------------------------- 5. order

# "-ff -ttt -T": one file per thread, "START call(args) = RET <SECONDS>".
STRACE_LINE = re.compile(r"^(\d+\.\d+) (\w+)\((.*)\)\s+=\s+(-?\d+)"
                         r"(?:.*<(\d+\.\d+)>)?")
# The OK frame (QUEUE_MSG_OK) as strace prints a sendmsg buffer.
OK_FRAME = 'iov_base="\\0\\0\\0\\4\\0'


def trace_queue(strace, qpid, trace):
    """strace every thread of the queue process qpid (trace.TID) for
    the calls of a commit, until terminated."""
    return attach_strace(strace, [qpid], trace,
                         "openat,fdatasync,fsync,fchmod,rename,renameat,"
                         "renameat2,sendmsg")


def trace_files(trace):
    return [p for p in glob.glob(trace + ".*") if not p.endswith(".err")]


def wait_traced_oks(trace, ids):
    """strace prints after the fact and lags under load: let it catch
    up with the OK frames of ids before it is stopped."""
    def traced_oks():
        # Only whole lines count: strace writes a call's line in two
        # steps, the result part when the call returns.
        done = set()
        for path in trace_files(trace):
            with open(path, errors="replace") as f:
                for line in f:
                    m = STRACE_LINE.match(line)
                    if m and m.group(2) == "sendmsg" and \
                            OK_FRAME in m.group(3):
                        done.update(q for q in ids if q in m.group(3))
        return done >= set(ids)
    try:
        wait_until(traced_oks, timeout=15, what="strace to catch up")
    except AssertionError:
        pass    # the checks that follow say what is missing


def traced_calls(trace):
    """(name, args, result, start, end) of every traced call, ordered by
    completion: a step counts as done when its call returned."""
    calls = []
    for path in trace_files(trace):
        for line in open(path, errors="replace"):
            m = STRACE_LINE.match(line)
            if m:
                start = float(m.group(1))
                end = start + float(m.group(5) or 0)
                calls.append((m.group(2), m.group(3), int(m.group(4)),
                              start, end))
    calls.sort(key=lambda c: c[4])
    return calls


def incoming_dirfds(o, qpid):
    """The queue process's descriptors (as strings) of incoming/."""
    incoming = os.path.realpath(spool(o, "incoming"))
    dirfds = set()
    for fd in os.listdir("/proc/%d/fd" % qpid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (qpid, fd)) == incoming:
                dirfds.add(fd)
        except OSError:
            pass
    assert dirfds, "the queue process holds no descriptor of incoming/"
    return dirfds



def test_commit_order_seen_by_strace(ostia_factory):
    """The queue process makes incoming/ID (partial, mode 0200), and
    sends OK (which smtpd turns into 250) only after it gave the file
    mode 0600 and synced it, and after a sync of incoming/ that began
    once the file's entry was made (where the file's own sync does not
    record the name too, NEW asks for one at once, so it may run before
    the file's own sync).  The syncs run in threads, so
    every thread is traced (one file each) and the calls are ordered by
    time: each step must have finished before the next one started."""
    strace = find_binary("strace")
    if strace is None:
        pytest.skip("peer strace is not installed")
    nclients = 10
    o = start_ostia(ostia_factory)
    [qpid] = queue_pids(o)
    dirfds = incoming_dirfds(o, qpid)
    trace = os.path.join(o.tmpdir, "strace.out")
    st = trace_queue(strace, qpid, trace)
    try:
        ids, errors = [], []
        lock = threading.Lock()
        barrier = threading.Barrier(nclients)

        def client(idx):
            try:
                with session(o) as c:
                    c.command("MAIL FROM:<sender@example.net>", expect=250)
                    c.command("RCPT TO:<r%d@example.org>" % idx, expect=250)
                    c.command("DATA", expect=354)
                    c.send_raw(make_body(new_token()))
                    barrier.wait(60)
                    c.send_raw(b".\r\n")
                    qid = queued_id(c.read_reply())
                    assert qid
                    with lock:
                        ids.append(qid)
            except BaseException as exc:
                with lock:
                    errors.append(repr(exc))
                barrier.abort()

        threads = [threading.Thread(target=client, args=(i,))
                   for i in range(nclients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors

        wait_traced_oks(trace, ids)
    finally:
        st.terminate()
        st.wait(30)
    calls = traced_calls(trace)
    assert len(ids) == nclients

    def first(pred, what):
        for i, c in enumerate(calls):
            if pred(i, c):
                return i
        raise AssertionError("strace of the queue process: no %s" % what)

    for qid in ids:
        path = '"incoming/%s"' % qid
        i_open = first(lambda i, c: c[0] == "openat" and path in c[1] and
                       "O_CREAT" in c[1] and "0200" in c[1] and c[2] >= 0,
                       "creation of incoming/%s with mode 0200" % qid)
        fd = str(calls[i_open][2])
        i_ok = first(lambda i, c: c[0] == "sendmsg" and qid in c[1] and
                     OK_FRAME in c[1],
                     "OK frame for %s" % qid)
        # The descriptor stays open (the same number) until after OK.
        i_mode = first(lambda i, c: i_open < i < i_ok and
                       c[0] == "fchmod" and c[1] == fd + ", 0600" and
                       c[2] == 0,
                       "fchmod of %s to 0600 before its OK" % qid)
        i_sync = first(lambda i, c: i_mode < i < i_ok and
                       c[0] == "fsync" and c[1] == fd and
                       c[3] >= calls[i_mode][4] and c[2] == 0,
                       "fsync of %s after its fchmod and before its OK"
                       % qid)
        first(lambda i, c: i_open < i < i_ok and c[0] == "fsync" and
              c[1] in dirfds and c[3] >= calls[i_open][4] and c[2] == 0,
              "fsync of incoming/ begun after incoming/%s was made and "
              "done before its OK" % qid)
        # Never a rename: the file is committed where it was made.
        assert not any(c[0].startswith("rename") and qid in c[1]
                       for c in calls), "a rename of %s" % qid
    # Batching is allowed: fewer directory syncs than messages is fine;
    # at most one asked for by each NEW and one by each commit.
    assert 1 <= sum(1 for c in calls if c[0] == "fsync" and c[1] in dirfds) \
        <= 2 * nclients




def test_journaled_queue_syncs_the_directory_after_the_file(journaled_fs,
                                                          ostia_factory):
    """On ext4 with a journal a file's fsync also records its new name,
    so the queue process says so at start and does not begin a sync of
    incoming/ at NEW (it would be a journal commit of its own, which the
    file's sync then waits for): for each message the sync of incoming/
    begins after the file's own sync began, and still ends before OK."""
    strace = find_binary("strace")
    if strace is None:
        pytest.skip("peer strace is not installed")
    o = start_ostia(ostia_factory, verbose=True, main_cf={
        "queue_directory": os.path.join(journaled_fs, "spool")})
    assert re.search(r"ostia/queue\[\d+\]: incoming is on ext2/3/4 with a "
                     r"journal \(loop\d+\): the directory sync for a new "
                     r"message follows the file's own sync", o.log_text()), \
        "no log line on the journaled queue file system"
    [qpid] = queue_pids(o)
    dirfds = incoming_dirfds(o, qpid)
    trace = os.path.join(o.tmpdir, "strace.out")
    st = trace_queue(strace, qpid, trace)
    try:
        # One after the other: nothing but this message's NEW could
        # start a directory sync while it is written.
        ids = [queue_one(o)[0] for _ in range(3)]
        wait_traced_oks(trace, ids)
    finally:
        st.terminate()
        st.wait(30)
    calls = traced_calls(trace)
    dirsyncs = [c for c in calls if c[0] == "fsync" and c[1] in dirfds]
    for qid in ids:
        opened = [c for c in calls if c[0] == "openat" and
                  '"incoming/%s"' % qid in c[1] and "O_CREAT" in c[1]]
        assert opened, "no creation of incoming/%s traced" % qid
        fd = str(opened[0][2])
        oks = [c for c in calls if c[0] == "sendmsg" and qid in c[1] and
               OK_FRAME in c[1]]
        assert oks, "no OK frame for %s traced" % qid
        made, ok = opened[0][4], oks[0][3]
        fsyncs = [c for c in calls if c[0] == "fsync" and c[1] == fd and
                  made <= c[3] <= ok]
        assert fsyncs, "no fsync of incoming/%s before its OK" % qid
        synced = fsyncs[0][3]
        early = [c for c in dirsyncs if made <= c[3] < synced]
        assert not early, "%s: incoming/ synced before the file's own " \
            "sync began: %r" % (qid, early)
        assert any(synced <= c[3] and c[4] <= ok for c in dirsyncs), \
            "%s: no sync of incoming/ between the file's sync and OK" % qid


def test_250_only_after_the_file_is_committed(ostia_factory):
    nclients, rounds = 10, 5
    o = start_ostia(ostia_factory, verbose=True)
    mark = o.log_mark()
    barrier = threading.Barrier(nclients)
    results, errors = [], []
    lock = threading.Lock()

    def client(idx):
        try:
            with session(o) as c:
                for _ in range(rounds):
                    token = new_token()
                    body = make_body(token)
                    c.command("MAIL FROM:<sender@example.net>", expect=250)
                    c.command("RCPT TO:<r%d@example.org>" % idx, expect=250)
                    c.command("DATA", expect=354)
                    c.send_raw(body)
                    # Everyone ends DATA together: commits can share a sync.
                    barrier.wait(60)
                    c.send_raw(b".\r\n")
                    r = c.read_reply()
                    qid = queued_id(r)
                    if qid is None:
                        raise AssertionError("not queued: %r" % r)
                    # Right after the 250, before anything else happens.
                    path = os.path.join(spool(o, "incoming"), qid)
                    present = os.path.exists(path)
                    show = queue_show(o, qid)
                    with lock:
                        results.append((qid, body, present, show))
                c.command("QUIT", expect=221)
        except BaseException as exc:  # reported by the main thread
            with lock:
                errors.append(repr(exc))
            barrier.abort()

    threads = [threading.Thread(target=client, args=(i,))
               for i in range(nclients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    assert len(results) == nclients * rounds
    for qid, body, present, show in results:
        assert present, "250 for %s before incoming/%s existed" % (qid, qid)
        assert show.returncode == 0, (qid, show.stderr)
        content = shown_content(show.stdout)
        assert content.endswith(body)
        assert RECEIVED_RE.match(content[:len(content) - len(body)])
    assert unfinished(o) == []
    assert sorted(listdir(o, "incoming")) == sorted(r[0] for r in results)
    log = o.log_text()
    assert not QUEUE_BAD_LOG.search(log, mark), \
        QUEUE_BAD_LOG.search(log, mark).group(0)
    # Batching depends on timing: only its bound is checked.
    for n in re.findall(r"ostia/queue\[\d+\]: committed (\d+) messages with "
                        r"one directory sync", log[mark:]):
        assert 2 <= int(n) <= nclients, n


# ---------------------------------------------------------------- 6. restart

def test_queue_files_survive_a_master_restart(ostia_factory):
    o = start_ostia(ostia_factory)
    sent = [queue_one(o, "r%d@example.org" % i) for i in range(3)]
    assert o.stop() == 0
    o.start_foreground()
    all_ready(o)
    r = o.cli("queue", "list", check=True)
    listed = [l.split()[0] for l in r.stdout.splitlines()
              if not l.startswith("--")]
    assert sorted(listed) == sorted(s[0] for s in sent)
    assert "-- 3 messages in %s" % spool(o, "incoming") in r.stdout
    for i, (qid, _, body) in enumerate(sent):
        line = [l for l in r.stdout.splitlines() if l.startswith(qid)][0]
        assert line.endswith("<sender@example.net> <r%d@example.org>" % i)
        assert_queued_exactly(o, qid, body)
    # The restarted queue process removed nothing that was committed.
    assert sorted(listdir(o, "incoming")) == sorted(s[0] for s in sent)
    o.assert_not_in_log(r"removed \d+ unfinished queue file")


# ---------------------------------------------------------------- 7. queue show

@pytest.mark.parametrize("bad", ["../etc", "abc", "../incoming/x",
                                 "0123456789abcdef", "0123456789ABCDEFG",
                                 ""])
def test_queue_show_refuses_an_invalid_id(ostia_factory, bad):
    o = ostia_factory()
    r = o.cli("queue", "show", bad)
    assert r.returncode == 1, r
    assert r.stdout == ""
    assert '"%s" is not a queue ID' % bad in r.stderr


def test_queue_show_unknown_id(ostia_factory):
    o = start_ostia(ostia_factory)
    r = o.cli("queue", "show", "0123456789ABCDEF")
    assert r.returncode == 1
    assert r.stdout == ""
    assert "no queued message with that ID" in r.stderr


def test_queue_show_refuses_a_truncated_file(ostia_factory):
    o = start_ostia(ostia_factory)
    qid, token, _ = queue_one(o)
    good, _, good_body = queue_one(o)
    path = os.path.join(spool(o, "incoming"), qid)
    size = os.path.getsize(path)
    os.truncate(path, size - 5)
    r = queue_show(o, qid)
    assert r.returncode == 1
    err = r.stderr.decode()
    assert "not a valid queue file" in err and "incomplete" in err, err
    assert qid in err
    assert token.encode() not in r.stdout and r.stdout == b""
    # list reports the bad file, still lists the good one, and fails.
    r = o.cli("queue", "list")
    assert r.returncode == 1
    assert qid in r.stderr and "incomplete" in r.stderr
    assert good in r.stdout and qid not in r.stdout
    assert_queued_exactly(o, good, good_body)
