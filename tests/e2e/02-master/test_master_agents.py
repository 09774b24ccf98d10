# SPDX-License-Identifier: MIT
"""The master runs delivery agents: master.cf services of type unix whose
command is discard, error (and virtual, lmtp, pipe) get a socket
$queue_directory/private/NAME and their processes; a client speaking the
delivery protocol (as the queue manager does) gets one status per
recipient, and the agent logs one line per recipient.

The queue file handed over is written here by hand, as
docs/queue-format.md describes it.
"""

import os
import re
import socket
import stat
import struct
import tempfile

from ostia_harness import wait_until

QID = "0123456789ABCDEF"

MSG_REQ, MSG_RCPT, MSG_STATUS, MSG_DONE = 1, 2, 3, 4
FD_FLAG = 0x80000000


def record(t, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return t.encode() + struct.pack(">I", len(payload)) + payload


def queue_file(qid=QID):
    content = b"Received: from x\r\nSubject: t\r\n\r\nhello\r\n"
    return b"".join([
        record("V", "ostia-queue 1"), record("I", qid),
        record("T", "1717171717.500000"), record("C", "mx.example.net"),
        record("A", "192.0.2.7"), record("H", "mx.example.net"),
        record("P", "ESMTP"), record("L", "smtp"),
        record("S", "alice@example.net"), record("R", "list@example.org"),
        record("M", b""), record("D", content),
        record("X", str(len(content))),
    ])


def s(x):
    x = x.encode()
    return struct.pack(">I", len(x)) + x


def req_payload(transport, nexthop, nrcpts):
    return (struct.pack(">I", 2) + s(QID) + s(transport) + s(nexthop) +
            s("alice@example.net") + s("") + s("") + struct.pack(">I", 0) +
            struct.pack(">Q", 1717171717) + struct.pack(">I", nrcpts) +
            s("mx.example.net") + s("192.0.2.7") + s("mx.example.net") +
            s("ESMTP") + s(""))


def rcpt_payload(idx, addr, orig):
    return (struct.pack(">I", idx) + s(addr) + s(orig) + s("") +
            struct.pack(">I", 0))


def frame(t, payload):
    return struct.pack(">II", t, len(payload)) + payload


def recv_exact(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise AssertionError("the agent closed the connection")
        out += chunk
    return out


def read_frame(sock):
    t, n = struct.unpack(">II", recv_exact(sock, 8))
    return t, recv_exact(sock, n)


def get_str(p, off):
    (n,) = struct.unpack(">I", p[off:off + 4])
    return p[off + 4:off + 4 + n].decode(), off + 4 + n


def parse_status(p):
    idx, st = struct.unpack(">II", p[:8])
    dsn, off = get_str(p, 8)
    remote, off = get_str(p, off)
    text, off = get_str(p, off)
    (flags,) = struct.unpack(">I", p[off:off + 4])
    off += 4
    assert off == len(p)
    # Result flags (relayed, DSN passed on) only come from the smtp
    # agent.
    assert flags == 0
    return idx, st, dsn, remote, text


def request(c, transport, nexthop, rcpts, tmpdir):
    """One request on connection c; returns {idx: status tuple}."""
    with tempfile.TemporaryFile(dir=tmpdir) as f:
        f.write(queue_file())
        f.flush()
        socket.send_fds(c, [frame(MSG_REQ | FD_FLAG, req_payload(
            transport, nexthop, len(rcpts)))], [f.fileno()])
    for i, (addr, orig) in enumerate(rcpts):
        c.sendall(frame(MSG_RCPT, rcpt_payload(10 + i, addr, orig)))
    out = {}
    while True:
        t, p = read_frame(c)
        if t == MSG_DONE:
            assert p == b""
            return out
        assert t == MSG_STATUS, t
        idx, st, dsn, remote, text = parse_status(p)
        assert idx not in out
        out[idx] = (st, dsn, text)


def connect(path):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(10)
    c.connect(path)
    return c


def deliver(path, transport, nexthop, rcpts, tmpdir):
    """One request on a new connection."""
    with connect(path) as c:
        return request(c, transport, nexthop, rcpts, tmpdir)


def test_agents_run_on_private_sockets(ostia_factory):
    o = ostia_factory(master_cf=(
        "127.0.0.1:@port:smtp@ inet n - n - 1 smtpd\n"
        "discard unix - - n - 2 discard\n"
        "retry unix - - n - 1 error\n"
        "error unix - - n - 1 error\n"))
    o.start_foreground()
    q = o.queue_dir
    for name in ("discard", "retry", "error"):
        path = os.path.join(q, "private", name)
        st = os.stat(path)
        assert stat.S_ISSOCK(st.st_mode), path
        assert st.st_mode & 0o777 == 0o600, oct(st.st_mode)
        assert st.st_uid == os.geteuid() or os.geteuid() == 0
    # The queue directories the queue manager needs.
    for d in ("tmp", "incoming", "deferred", "hold", "corrupt", "status",
              "spare"):
        st = os.stat(os.path.join(q, d))
        assert stat.S_ISDIR(st.st_mode) and st.st_mode & 0o777 == 0o700, d

    def ready():
        # Every agent past its start (a child still starting runs as
        # root until it drops its privileges).
        st = o.cli("status").stdout
        m = re.search(r"service discard/unix command=discard state=running "
                      r"children=2/2 ready=2 restarts=0 listen=(\S+)", st)
        return m is not None and m.group(1) == os.path.join(
            q, "private", "discard") and all(
            re.search(r"service %s/unix command=error state=running "
                      r"children=1/1 ready=1 " % name, st)
            for name in ("retry", "error"))
    wait_until(ready, what="the discard, retry and error agents ready")

    # No agent runs as root: they drop to mail_owner like smtpd.
    agents = []
    for pid in o.child_pids():
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().split(b"\0")
        if b"child" in argv and argv[argv.index(b"child") + 2] == b"unix":
            agents.append(pid)
    assert len(agents) == 4, agents
    for pid in agents:
        with open("/proc/%d/status" % pid) as f:
            uids = [l.split()[1:] for l in f if l.startswith(("Uid:",
                                                               "Gid:"))]
        assert all(int(x) != 0 for u in uids for x in u) or \
            os.geteuid() != 0, uids

    res = deliver(os.path.join(q, "private", "discard"), "discard", "",
                  [("bob@example.org", "list@example.org"),
                   ("carol@example.org", "")], o.tmpdir)
    assert res == {10: (0, "2.0.0", "discarded"),
                   11: (0, "2.0.0", "discarded")}
    o.wait_for_log(r"ostia/discard\[\d+\]: %s: to=<bob@example\.org>, "
                   r"orig_to=<list@example\.org>, relay=none, delay=\d+, "
                   r"dsn=2\.0\.0, status=sent \(discarded\)" % QID)

    res = deliver(os.path.join(q, "private", "error"), "error",
                  "5.1.1 mailbox disabled", [("bob@example.org", "")],
                  o.tmpdir)
    assert res == {10: (2, "5.1.1", "mailbox disabled")}
    res = deliver(os.path.join(q, "private", "retry"), "retry", "",
                  [("bob@example.org", "")], o.tmpdir)
    assert res == {10: (1, "4.0.0", "delivery temporarily suspended")}
    o.wait_for_log(r"ostia/error\[\d+\]: %s: to=<bob@example\.org>, "
                   r"relay=none, delay=\d+, dsn=4\.0\.0, status=deferred "
                   r"\(delivery temporarily suspended\)" % QID)

    # One connection per process at a time: while one process holds
    # connection a, connection b is served by the other one.
    dpath = os.path.join(q, "private", "discard")
    with connect(dpath) as a, connect(dpath) as b:
        mark = o.log_mark()
        assert request(a, "discard", "via a", [("a@example.org", "")],
                       o.tmpdir) == {10: (0, "2.0.0", "via a")}
        assert request(b, "discard", "via b", [("b@example.org", "")],
                       o.tmpdir) == {10: (0, "2.0.0", "via b")}
        # Both stay usable for more requests.
        assert request(a, "discard", "again", [("a@example.org", "")],
                       o.tmpdir) == {10: (0, "2.0.0", "again")}
        pa = o.wait_for_log(r"ostia/discard\[(\d+)\]: \S+: "
                            r"to=<a@example\.org>, .*\(via a\)$", start=mark)
        pb = o.wait_for_log(r"ostia/discard\[(\d+)\]: \S+: "
                            r"to=<b@example\.org>, .*\(via b\)$", start=mark)
        pa2 = o.wait_for_log(r"ostia/discard\[(\d+)\]: \S+: "
                             r"to=<a@example\.org>, .*\(again\)$",
                             start=mark)
        assert pa.group(1) != pb.group(1)
        assert pa.group(1) == pa2.group(1)

    # A malformed frame ends the connection (logged as an error).
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.settimeout(10)
        c.connect(os.path.join(q, "private", "discard"))
        c.sendall(frame(MSG_RCPT, rcpt_payload(1, "a@b", "")))
        assert c.recv(100) == b""
    o.wait_for_log(r"ostia/discard\[\d+\]: error: NOQUEUE: unexpected "
                   r"message 2 from the queue manager")

    # A reload keeps the sockets (same inode) and restarts the agents.
    ino = os.stat(os.path.join(q, "private", "discard")).st_ino
    o.reload()
    wait_until(ready, what="the discard agents ready after reload")
    assert os.stat(os.path.join(q, "private", "discard")).st_ino == ino
    res = deliver(os.path.join(q, "private", "discard"), "discard", "x",
                  [("bob@example.org", "")], o.tmpdir)
    assert res == {10: (0, "2.0.0", "x")}
    assert o.stop() == 0


def test_agent_service_names_are_checked(ostia_factory):
    o = ostia_factory(master_cf=(
        "127.0.0.1:@port:smtp@ inet n - n - 1 smtpd\n"
        "a/b unix - - n - 1 discard\n"))
    r = o.check()
    assert r.returncode != 0
    assert re.search(r"master\.cf:2: bad unix service name 'a/b'",
                     r.stderr), r.stderr
    # The internal processes' socket names are not for agents.
    o.write_master_cf("127.0.0.1:@port:smtp@ inet n - n - 1 smtpd\n"
                      "queue unix - - n - 1 discard\n")
    # `ostia check` refuses it as the master would.
    r = o.check()
    assert r.returncode != 0, r.stdout + r.stderr
    assert re.search(r"master\.cf:2: service queue/unix: the name queue is "
                     r"reserved", r.stderr), r.stderr
    r = o.cli("run", timeout=20)
    assert r.returncode == 1
    log = r.stderr + o.log_text()
    assert re.search(r"master\.cf:2: service queue/unix: the name queue is "
                     r"reserved", log), log
    assert "cannot start" in log
