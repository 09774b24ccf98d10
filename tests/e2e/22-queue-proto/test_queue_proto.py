# SPDX-License-Identifier: MIT
"""The queue protocol spoken raw on $queue_directory/private/queue.

The contract under test (src/common/queue_proto.h): one connection carries
many transactions at once, each named by a u32 tag; NEW answers FILE (tag,
queue ID and an open descriptor) or FAIL; COMMIT answers OK once the file
is in incoming/, or FAIL (file removed) when it does not parse; ABORT and
a closed connection remove what their transactions left; a NEW with a tag
in use, a COMMIT for a tag not in use or for another file, and malformed
frames end the connection, whose open transactions are then abandoned.
And from the outside: many SMTP sessions at once on one smtpd all get
their 250 and every message is in the queue.

Frames (src/lib/ipc.h): type (u32, big-endian; 0x80000000 set when a
descriptor comes along, SCM_RIGHTS), payload length (u32), payload; a
string is a u32 length and its bytes.  A valid queue file is made from a
real one (queued over SMTP first) with the queue ID replaced.  Nothing
here asserts how fast anything happens.
"""

import array
import os
import re
import resource
import signal
import smtplib
import socket
import struct
import threading

import pytest

from ostia_harness import (committed_files, partial_files, wait_no_partial,
                           wait_until)

NEW, FILE, COMMIT, OK, FAIL, CTL, CTL_REPLY, ABORT = 1, 2, 3, 4, 5, 6, 7, 8
FLAG_FD = 0x80000000
QUEUED_RE = re.compile(r"2\.0\.0 Ok: queued as ([0-9A-HJKMNP-TV-Z]{16})\Z")
ID_RE = re.compile(rb"\A[0-9A-HJKMNP-TV-Z]{16}\Z")
TXN_MAX = 4096


# ---------------------------------------------------------------- helpers

def u32(v):
    return struct.pack(">I", v)


def sstr(b):
    if isinstance(b, str):
        b = b.encode()
    return u32(len(b)) + b


def frame(ftype, payload=b""):
    return struct.pack(">II", ftype, len(payload)) + payload


def parse_tag_str(payload):
    """(tag, string) of a FILE, OK or FAIL payload, all of it used."""
    assert len(payload) >= 8, payload
    tag, n = struct.unpack(">II", payload[:8])
    assert len(payload) == 8 + n, payload
    return tag, payload[8:]


class QueueConn:
    """A raw connection to the queue process, as smtpd would make it."""

    def __init__(self, o, timeout=30.0):
        self.path = os.path.join(o.queue_dir, "private", "queue")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(self.path)
        self.buf = b""
        self.fds = []
        self.eof = False

    def close(self):
        self.sock.close()
        for fd in self.fds:
            os.close(fd)
        self.fds = []

    def send(self, *frames):
        """Send frames with one sendall (one read for the queue)."""
        self.sock.sendall(b"".join(frames))

    def send_with_fd(self, data, fd):
        self.sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                    array.array("i", [fd]))])

    def _fill(self):
        data, anc, _flags, _addr = self.sock.recvmsg(
            65536, socket.CMSG_SPACE(16 * 4))
        for level, typ, d in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                fds = array.array("i")
                fds.frombytes(d[:len(d) - len(d) % fds.itemsize])
                self.fds.extend(fds)
        if not data:
            self.eof = True
            raise EOFError("the queue process closed the connection")
        self.buf += data

    def read(self):
        """The next frame: (type, payload, fd or None)."""
        while len(self.buf) < 8 or \
                len(self.buf) < 8 + struct.unpack(">I", self.buf[4:8])[0]:
            self._fill()
        ftype, n = struct.unpack(">II", self.buf[:8])
        payload = self.buf[8:8 + n]
        self.buf = self.buf[8 + n:]
        fd = None
        if ftype & FLAG_FD:
            assert self.fds, "frame %#x announces a descriptor that did " \
                "not come" % ftype
            fd = self.fds.pop(0)
        return ftype & ~FLAG_FD, payload, fd

    def new(self, tag):
        """NEW tag; return (id, fd) of its FILE answer."""
        self.send(frame(NEW, u32(tag)))
        return self.expect_file(tag)

    def expect_file(self, tag):
        ftype, payload, fd = self.read()
        assert ftype == FILE, (ftype, payload)
        got, qid = parse_tag_str(payload)
        assert got == tag
        assert ID_RE.match(qid), qid
        assert fd is not None
        return qid.decode(), fd

    def expect_eof(self):
        """The queue process ends the connection (frames before it are
        returned)."""
        frames = []
        try:
            while True:
                ftype, payload, fd = self.read()
                if fd is not None:
                    os.close(fd)
                frames.append((ftype, payload))
        except EOFError:
            pass
        return frames


def child_argv(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def queue_pid(o):
    out = []
    for pid in o.child_pids():
        argv = child_argv(pid)
        if b"child" in argv:
            i = argv.index(b"child")
            if argv[i + 1:i + 3] == [b"queue", b"internal"]:
                out.append(pid)
    assert len(out) == 1, "queue processes: %r" % out
    return out[0]


def listdir(o, sub):
    try:
        return sorted(os.listdir(os.path.join(o.queue_dir, sub)))
    except FileNotFoundError:
        return []


def partial_of(o, qid):
    """[qid] while incoming/qid is a partial file (being written)."""
    return [f for f in partial_files(o.queue_dir) if f == qid]


def partials(o):
    return partial_files(o.queue_dir)


def wait_partials_gone(o):
    wait_no_partial(o.queue_dir)
    # Transactions' files are made in incoming/ only, never in tmp/.
    assert listdir(o, "tmp") == []


def start(ostia_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root to connect to the queue socket of "
                    "mail_owner")
    o = ostia_factory()
    o.start_foreground()
    return o


def smtp_message(token):
    return ("From: <sender@example.net>\r\nTo: <rcpt@example.org>\r\n"
            "Subject: %s\r\n\r\nbody of %s\r\n" % (token, token)).encode()


def queue_over_smtp(o, token, msg=None, timeout=60):
    """One message (msg, else a small one naming token) through smtpd;
    its queue ID."""
    with smtplib.SMTP("127.0.0.1", o.port, timeout=timeout) as s:
        s.ehlo("client.example")
        code, _ = s.mail("sender@example.net")
        assert code == 250
        code, _ = s.rcpt("rcpt@example.org")
        assert code == 250
        code, resp = s.data(msg if msg is not None
                            else smtp_message(token))
        assert code == 250, (code, resp)
        m = QUEUED_RE.match(resp.decode())
        assert m, resp
        return m.group(1)


class Template:
    """A queue file smtpd wrote, to be reused under other queue IDs."""

    def __init__(self, o):
        self.id = queue_over_smtp(o, "template-message")
        with open(os.path.join(o.queue_dir, "incoming", self.id), "rb") as f:
            self.data = f.read()
        assert self.id.encode() in self.data

    def for_id(self, qid):
        return self.data.replace(self.id.encode(), qid.encode())


def read_answers(qc, n):
    """n OK/FAIL answers: {tag: (type, text)}."""
    out = {}
    for _ in range(n):
        ftype, payload, fd = qc.read()
        assert fd is None
        assert ftype in (OK, FAIL), (ftype, payload)
        tag, text = parse_tag_str(payload)
        assert tag not in out, "two answers for tag %d" % tag
        out[tag] = (ftype, text.decode())
    return out


# ---------------------------------------------------------------- tests

def test_interleaved_transactions_on_one_connection(ostia_factory):
    """Three transactions at once: the valid files are committed, the
    invalid one fails and leaves nothing; the connection goes on."""
    o = start(ostia_factory)
    tpl = Template(o)
    qc = QueueConn(o)
    try:
        qc.send(frame(NEW, u32(10)), frame(NEW, u32(11)),
                frame(NEW, u32(0xfffffff0)))
        files = {}
        for tag in (10, 11, 0xfffffff0):
            files[tag] = qc.expect_file(tag)
        ids = {tag: qid for tag, (qid, _fd) in files.items()}
        assert len(set(ids.values())) == 3
        for qid in ids.values():
            assert len(partial_of(o, qid)) == 1, listdir(o, "incoming")
        # Written and committed in another order than asked for.
        good = {10, 0xfffffff0}
        for tag in (0xfffffff0, 11, 10):
            qid, fd = files[tag]
            os.write(fd, tpl.for_id(qid) if tag in good
                     else b"this is not a queue file\n")
            os.close(fd)
            qc.send(frame(COMMIT, u32(tag) + sstr(qid)))
        answers = read_answers(qc, 3)
        for tag in good:
            assert answers[tag] == (OK, ids[tag]), answers
            with open(os.path.join(o.queue_dir, "incoming", ids[tag]),
                      "rb") as f:
                assert f.read() == tpl.for_id(ids[tag])
        assert answers[11][0] == FAIL
        assert "invalid queue file" in answers[11][1], answers[11]
        assert ids[11] not in listdir(o, "incoming")
        assert partials(o) == []
        assert sorted(listdir(o, "incoming")) == sorted(
            [tpl.id, ids[10], ids[0xfffffff0]])
        # A tag is free again after its answer; the connection goes on.
        qid, fd = qc.new(11)
        os.close(fd)
        assert len(partial_of(o, qid)) == 1
        qc.send(frame(ABORT, u32(11)))
        wait_partials_gone(o)
        r = o.cli("queue", "show", ids[10])
        assert r.returncode == 0, r.stderr
    finally:
        qc.close()


def test_abort_removes_the_file(ostia_factory):
    o = start(ostia_factory)
    tpl = Template(o)
    mark = o.log_mark()
    qc = QueueConn(o)
    try:
        qid, fd = qc.new(1)
        os.write(fd, tpl.for_id(qid)[:100])
        os.close(fd)
        assert len(partial_of(o, qid)) == 1
        qc.send(frame(ABORT, u32(1)))
        wait_partials_gone(o)
        # An ABORT for a tag not in use (its answer crossed it) is no
        # fault: the connection stays.
        qc.send(frame(ABORT, u32(1)), frame(ABORT, u32(77)))
        # ABORT while the commit is in flight: COMMIT and ABORT arrive
        # together, so the commit finishes after the ABORT and removes
        # the message again; no answer comes for the tag.
        qid2, fd = qc.new(2)
        os.write(fd, tpl.for_id(qid2))
        os.close(fd)
        qc.send(frame(COMMIT, u32(2) + sstr(qid2)), frame(ABORT, u32(2)))
        o.wait_for_log(r"ostia/queue\[\d+\]: %s: removed: smtpd left before "
                       r"the commit was confirmed" % qid2, start=mark)
        assert qid2 not in listdir(o, "incoming")
        assert partials(o) == []
        # Nothing was sent for tag 2: the next frame answers tag 3.
        qid3, fd = qc.new(3)
        os.close(fd)
        qc.send(frame(ABORT, u32(3)))
        wait_partials_gone(o)
        assert listdir(o, "incoming") == [tpl.id]
    finally:
        qc.close()


def test_closing_the_connection_abandons_its_transactions(ostia_factory):
    """Files being written are removed; a commit in flight removes its
    message once its commit is done (its client never heard 250)."""
    o = start(ostia_factory)
    tpl = Template(o)
    mark = o.log_mark()
    qpid = queue_pid(o)
    qc = QueueConn(o)
    ids = []
    try:
        for tag in (1, 2, 3):
            qid, fd = qc.new(tag)
            os.write(fd, tpl.for_id(qid) if tag == 3 else b"partial")
            os.close(fd)
            ids.append(qid)
        assert len(partials(o)) == 3
        # The queue process sees COMMIT and the end of the connection in
        # one go, before the commit can finish.
        os.kill(qpid, signal.SIGSTOP)
        try:
            qc.send(frame(COMMIT, u32(3) + sstr(ids[2])))
        finally:
            qc.close()
            os.kill(qpid, signal.SIGCONT)
        wait_partials_gone(o)
        o.wait_for_log(r"ostia/queue\[\d+\]: %s: removed: smtpd left before "
                       r"the commit was confirmed" % ids[2], start=mark)
        assert listdir(o, "incoming") == [tpl.id]
    finally:
        qc.close()
    # The queue process serves the next connection.
    qc = QueueConn(o)
    try:
        qid, fd = qc.new(1)
        os.close(fd)
    finally:
        qc.close()
    wait_partials_gone(o)


def _bad_new_tag_in_use(qc, qid):
    qc.send(frame(NEW, u32(5)))


def _bad_commit_unknown_tag(qc, qid):
    qc.send(frame(COMMIT, u32(6) + sstr(qid)))


def _bad_commit_other_id(qc, qid):
    other = ("0" if qid[0] != "0" else "1") + qid[1:]
    qc.send(frame(COMMIT, u32(5) + sstr(other)))


def _bad_commit_twice(qc, qid):
    qc.send(frame(COMMIT, u32(5) + sstr(qid)),
            frame(COMMIT, u32(5) + sstr(qid)))


def _bad_malformed_new(qc, qid):
    qc.send(frame(NEW, u32(8) + b"\0"))


def _bad_malformed_commit(qc, qid):
    qc.send(frame(COMMIT, u32(5) + u32(100) + qid.encode()))


def _bad_unknown_type(qc, qid):
    qc.send(frame(99, u32(5)))


def _bad_answer_type(qc, qid):
    qc.send(frame(OK, u32(5) + sstr(qid)))


def _bad_descriptor(qc, qid):
    r, w = os.pipe()
    try:
        qc.send_with_fd(frame(NEW | FLAG_FD, u32(9)), r)
    finally:
        os.close(r)
        os.close(w)


def _bad_ctl_after_new(qc, qid):
    qc.send(frame(CTL, sstr("list")))


def _bad_oversized_frame(qc, qid):
    qc.send(struct.pack(">II", NEW, 1 << 20))


BAD = {
    "new-tag-in-use": (_bad_new_tag_in_use,
                       r"smtpd sent NEW with tag 5, which is in use"),
    "commit-unknown-tag": (_bad_commit_unknown_tag,
                           r"smtpd sent COMMIT for tag 6, which is not in "
                           r"use"),
    "commit-other-id": (_bad_commit_other_id,
                        r"smtpd sent COMMIT for another queue ID"),
    "commit-twice": (_bad_commit_twice, r"smtpd sent COMMIT twice"),
    "malformed-new": (_bad_malformed_new, r"malformed NEW from smtpd"),
    "malformed-commit": (_bad_malformed_commit,
                         r"malformed COMMIT from smtpd"),
    "unknown-type": (_bad_unknown_type, r"unexpected message 99 from smtpd"),
    "answer-type": (_bad_answer_type, r"unexpected message 4 from smtpd"),
    "descriptor": (_bad_descriptor, r"smtpd sent a descriptor"),
    "ctl-after-new": (_bad_ctl_after_new,
                      r"CTL|queue control request on a connection"),
    "oversized-frame": (_bad_oversized_frame,
                        r"malformed frame from smtpd"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_protocol_violation_ends_the_connection(ostia_factory, case):
    """The connection ends, its open transaction leaves nothing, and the
    queue process serves the next connection."""
    send_bad, log_re = BAD[case]
    o = start(ostia_factory)
    tpl = Template(o)
    mark = o.log_mark()
    qc = QueueConn(o)
    try:
        qid, fd = qc.new(5)
        os.write(fd, tpl.for_id(qid))
        os.close(fd)
        send_bad(qc, qid)
        frames = qc.expect_eof()
        assert all(t in (OK, FAIL) for t, _ in frames), frames
    finally:
        qc.close()
    o.wait_for_log(r"ostia/queue\[\d+\]: error: .*(?:%s)" % log_re,
                   start=mark)
    wait_partials_gone(o)
    # A commit that was in flight (COMMIT twice) is removed again.
    wait_until(lambda: listdir(o, "incoming") == [tpl.id], timeout=30,
               what="incoming/ to hold only the template (%r)"
               % listdir(o, "incoming"))
    qc = QueueConn(o)
    try:
        qid, fd = qc.new(5)
        os.close(fd)
        qc.send(frame(ABORT, u32(5)))
        wait_partials_gone(o)
    finally:
        qc.close()


def test_too_many_transactions_on_one_connection(ostia_factory):
    """NEW beyond the bound gets FAIL; the connection stays, and a tag
    freed makes room again."""
    o = start(ostia_factory)
    qpid = queue_pid(o)
    soft = None
    with open("/proc/%d/limits" % qpid) as f:
        for line in f:
            if line.startswith("Max open files"):
                soft = int(line.split()[3])
    if soft is None or soft < TXN_MAX + 64:
        pytest.skip("the queue process may open only %r files" % soft)
    qc = QueueConn(o, timeout=120)
    try:
        qc.send(*[frame(NEW, u32(t)) for t in range(TXN_MAX + 1)])
        for t in range(TXN_MAX):
            _qid, fd = qc.expect_file(t)
            os.close(fd)
        ftype, payload, fd = qc.read()
        assert ftype == FAIL and fd is None
        tag, text = parse_tag_str(payload)
        assert tag == TXN_MAX
        assert text == b"too many messages in progress"
        assert len(partials(o)) == TXN_MAX
        qc.send(frame(ABORT, u32(0)))
        qid, fd = qc.new(TXN_MAX)
        os.close(fd)
    finally:
        qc.close()
    wait_partials_gone(o)
    assert listdir(o, "incoming") == []


def test_ctl_on_its_own_connection(ostia_factory):
    """`ostia queue` still works, and so does a raw CTL request."""
    o = start(ostia_factory)
    r = o.cli("queue", "list")
    assert r.returncode == 0, r.stderr
    qc = QueueConn(o)
    try:
        qc.send(frame(CTL, sstr("list")))
        ftype, payload, fd = qc.read()
        assert ftype == CTL_REPLY and fd is None
        status, = struct.unpack(">I", payload[:4])
        # 2 here: this instance runs no queue manager (no qmgr in
        # master.cf), which the answer says.
        assert status == 2, payload
        assert b"the queue manager is not running" in payload
        # Nothing else on it: NEW now ends it.
        qc.send(frame(NEW, u32(1)))
        assert qc.expect_eof() == []
    finally:
        qc.close()
    assert partials(o) == []


def test_many_concurrent_smtp_sessions(ostia_factory):
    """200 sessions at once on one smtpd process (one connection to the
    queue process): every message gets 250 and is in incoming/."""
    n = 200
    o = start(ostia_factory)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4 * n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * n), hard))
    barrier = threading.Barrier(n)
    lock = threading.Lock()
    ids, errors = {}, []

    def client(i):
        token = "concurrent-%d" % i
        try:
            with smtplib.SMTP("127.0.0.1", o.port, timeout=120) as s:
                s.ehlo("client%d.example" % i)
                code, _ = s.mail("sender@example.net")
                assert code == 250
                code, _ = s.rcpt("rcpt%d@example.org" % i)
                assert code == 250
                # Every session has its transaction open before any
                # sends its message.
                barrier.wait(120)
                code, resp = s.data(smtp_message(token))
                assert code == 250, (code, resp)
                m = QUEUED_RE.match(resp.decode())
                assert m, resp
                with lock:
                    ids[token] = m.group(1)
        except BaseException as exc:  # noqa: BLE001 - reported below
            barrier.abort()
            with lock:
                errors.append("%d: %r" % (i, exc))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
        assert not t.is_alive()
    assert not errors, errors[:10]
    assert len(ids) == n
    assert len(set(ids.values())) == n
    incoming = set(committed_files(o.queue_dir))
    for token, qid in ids.items():
        assert qid in incoming, "%s: %s not in incoming/" % (token, qid)
        with open(os.path.join(o.queue_dir, "incoming", qid), "rb") as f:
            assert ("Subject: %s\r\n" % token).encode() in f.read()
    assert len(incoming) == n
    assert partials(o) == []


def test_big_message_is_checked_and_queued_whole(ostia_factory):
    """A message far bigger than the commit check's per-thread buffer
    (64 KiB) is read whole, checked and queued byte for byte, in one read
    from the client and in the queue file."""
    o = start(ostia_factory)
    token = "big-message"
    line = b"0123456789" * 7 + b"\r\n"                  # 72 bytes
    body = line * (3 * 1024 * 1024 // len(line))      # about 3 MiB
    msg = (b"From: <sender@example.net>\r\nTo: <rcpt@example.org>\r\n"
           b"Subject: " + token.encode() + b"\r\n\r\n" + body)
    qid = queue_over_smtp(o, token, msg, timeout=120)
    assert qid in committed_files(o.queue_dir)
    assert partials(o) == []
    # `ostia queue show` parses the file: the body comes back whole.
    r = o.cli("queue", "show", qid, timeout=60)
    assert r.returncode == 0, r.stderr
    out = r.stdout if isinstance(r.stdout, bytes) else r.stdout.encode()
    want = line.rstrip(b"\r\n")
    got = sum(1 for ln in out.splitlines() if ln.rstrip(b"\r") == want)
    assert got == body.count(line)
