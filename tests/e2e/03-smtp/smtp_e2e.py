# SPDX-License-Identifier: MIT
"""Helpers shared by the SMTP server scenarios in tests/e2e/03-smtp.

Everything here talks to a running Ostia (see the `smtpd` fixture in
conftest.py): SMTP sessions over raw sockets (ostia_harness.SmtpClient),
the spool (`ostia queue list`, `ostia queue show`, the committed and
the partial files in incoming/) and the log.

Conventions:
  - expect_reply(c, code, enhanced) reads one reply and checks its
    code and the enhanced status code (RFC 3463) of its last line.
  - assert_nothing_queued(o) is used after every refusal: no message in
    incoming/ (both as `queue list` prints it and as committed files),
    and no partial file once the queue process has removed the aborted
    one.
"""

import os
import re
import subprocess

from ostia_harness import committed_files, partial_files, wait_until

CLIENT = r"unknown\[127\.0\.0\.1\]"
SMTPD = r"ostia/smtpd\[\d+\]: "
QUEUED_RE = re.compile(r"250 2\.0\.0 Ok: queued as ([0-9A-Z]{16})\Z")


# ---------------------------------------------------------------- spool

def incoming_files(o):
    """Names of the committed files in $queue_directory/incoming."""
    return committed_files(o.queue_dir)


def unfinished_files(o):
    """Files of messages being received: partial files in incoming/,
    and anything in tmp/ (where no transaction's file belongs)."""
    return partial_files(o.queue_dir) + committed_files(o.queue_dir, "tmp")


def queued_ids(o):
    """IDs printed by `ostia queue list`, checked against its count line
    and against the files in incoming/."""
    r = o.cli("queue", "list", check=True)
    lines = r.stdout.splitlines()
    assert lines, "queue list printed nothing"
    m = re.fullmatch(r"-- (\d+) messages? in (.*)", lines[-1])
    assert m, "bad last line of queue list: %r" % lines[-1]
    assert m.group(2) == os.path.join(o.queue_dir, "incoming")
    ids = [l.split()[0] for l in lines[:-1]]
    assert len(ids) == int(m.group(1)), r.stdout
    assert sorted(ids) == incoming_files(o), (ids, incoming_files(o))
    return ids


def assert_nothing_queued(o):
    """Nothing committed in incoming/, and no unfinished file (waits for
    the queue process to remove an aborted one)."""
    assert queued_ids(o) == []
    wait_until(lambda: not unfinished_files(o), timeout=5,
               what="no unfinished queue file (left: %r)"
               % unfinished_files(o))


def assert_queued(o, n):
    """Exactly n messages queued; return their IDs."""
    ids = queued_ids(o)
    assert len(ids) == n, ids
    return ids


class Shown:
    """The output of `ostia queue show ID`, as bytes and parsed.

    env: list of (key, value) envelope lines; recipients: the
    "recipient:" values; message: the message bytes as stored.
    """

    def __init__(self, raw):
        self.raw = raw
        head, sep, self.message = raw.partition(b"\n\n")
        assert sep, "no blank line after the envelope: %r" % raw[:500]
        self.env = []
        for line in head.decode("utf-8").split("\n"):
            key, sep, value = line.partition(": ")
            assert sep, "bad envelope line %r" % line
            self.env.append((key, value))
        self.recipients = [v for k, v in self.env if k == "recipient"]

    def get(self, key):
        values = [v for k, v in self.env if k == key]
        assert len(values) <= 1, (key, values)
        return values[0] if values else None

    @property
    def text(self):
        return self.message.decode("utf-8", errors="replace")

    def header_and_body(self):
        """(headers, body) of the stored message, split at the first
        empty line (CRLF CRLF)."""
        head, sep, body = self.message.partition(b"\r\n\r\n")
        assert sep, "no header/body separator in %r" % self.message[:500]
        return head + b"\r\n", body

    def body_without_received(self):
        """The message after our own Received: header."""
        m = re.match(rb"Received: [^\r\n]*(?:\r\n[ \t][^\r\n]*)*\r\n",
                     self.message)
        assert m, "message does not start with Received: %r" \
            % self.message[:300]
        return self.message[m.end():]


def queue_show(o, qid):
    """Run `ostia queue show ID` (stdout kept as bytes: CRLF intact)."""
    r = subprocess.run([o.binary, "-c", o.confdir, "queue", "show", qid],
                       capture_output=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr.decode("utf-8", "replace")
    return Shown(r.stdout)


def assert_crlf_only(data):
    """Every line of data ends with CRLF; no bare CR or LF."""
    assert data.endswith(b"\r\n"), data[-50:]
    stripped = data.replace(b"\r\n", b"")
    assert b"\n" not in stripped and b"\r" not in stripped, data


# ---------------------------------------------------------------- SMTP

def expect_reply(c, code, enhanced=None, text=None, timeout=None):
    """Read one reply; check its code, the enhanced code that starts the
    text of its last line, and optionally a regex on that text."""
    r = c.read_reply(timeout)
    assert r.code == code, "expected %d %s, got %r" % (code, enhanced, r)
    if enhanced is not None:
        assert r.lines[-1].startswith(enhanced + " "), \
            "expected %d %s, got %r" % (code, enhanced, r)
    if text is not None:
        assert re.search(text, r.lines[-1]), (text, r)
    return r


def greet(o):
    """Connect and read the greeting."""
    c = o.smtp()
    expect_reply(c, 220)
    return c


def ehlo(o, name="client.example"):
    """Connect, read the greeting, EHLO; return the client."""
    c = greet(o)
    c.send_line("EHLO " + name)
    expect_reply(c, 250)
    return c


def start_mail(c, sender="sender@example.org",
               rcpts=("rcpt@example.net",)):
    """MAIL and RCPT commands, each answered with 250."""
    c.send_line("MAIL FROM:<%s>" % sender)
    expect_reply(c, 250, "2.1.0")
    for r in rcpts:
        c.send_line("RCPT TO:<%s>" % r)
        expect_reply(c, 250, "2.1.5")


def send_data(c, text):
    """DATA (354), then text (bytes, already dot-stuffed, without the
    terminator) and CRLF.CRLF; return the final reply."""
    c.send_line("DATA")
    expect_reply(c, 354)
    if isinstance(text, str):
        text = text.encode("utf-8")
    c.send_raw(text + b".\r\n")
    return c.read_reply()


def queued_id(reply):
    """The queue ID of a "250 2.0.0 Ok: queued as ID" reply."""
    m = QUEUED_RE.match(reply.raw[-1])
    assert m, "not a queued reply: %r" % reply
    return m.group(1)


def send_message(c, text, sender="sender@example.org",
                 rcpts=("rcpt@example.net",)):
    """A whole transaction that must be queued; return the queue ID."""
    start_mail(c, sender, rcpts)
    return queued_id(send_data(c, text))


def quit_(c):
    c.send_line("QUIT")
    expect_reply(c, 221, "2.0.0")
    assert c.wait_closed()
    c.close()


SIMPLE = b"Subject: test\r\n\r\nHello.\r\n"
