# SPDX-License-Identifier: MIT
"""Header and body checks (header_checks, mime_header_checks,
nested_header_checks, body_checks; Postfix header_checks(5)) through a
running ostia: src/smtpd/smtpd_hbc.c with the scanner src/common/hbc.c.

Each test writes pcre: tables into the instance's configuration
directory, starts the real `ostia`, sends messages over SMTP (DATA and
BDAT) and looks at the replies, the queue (incoming/ and tmp/, `ostia
queue show`) and the log.  Every message carries a unique token so that a
queue file can be matched to the message that made it.  Nothing here
asserts how fast anything happens.
"""

import os
import re
import secrets
import subprocess

import pytest

from ostia_harness import (committed_files, connect_smtp,
                           exact_content_factory, partial_files, wait_until)

QUEUED_RE = re.compile(r"\A2\.0\.0 Ok: queued as ([0-9A-HJKMNP-TV-Z]{16})\Z")
TOKEN_RE = re.compile(rb"tok-[0-9a-f]{24}")


# ---------------------------------------------------------------- helpers

def write_table(o, name, text, kind="pcre"):
    """A table file in the configuration directory (root-owned, 0644:
    the owner rule of table files); returns "KIND:PATH"."""
    path = os.path.join(o.confdir, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return kind + ":" + path


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


@pytest.fixture
def ostia_factory(ostia_factory):
    """The stored messages are compared with what was sent byte for byte
    (ostia_harness.exact_content_factory)."""
    return exact_content_factory(ostia_factory)


def start(ostia_factory, header=None, body=None, mime=None, nested=None,
          master_cf=None, **params):
    """An instance with the given table texts (None: parameter unset)."""
    o = ostia_factory(master_cf=master_cf) if master_cf else ostia_factory()
    # The client (127.0.0.1) may relay: the recipients are elsewhere.
    main = {"mynetworks": "127.0.0.0/8"}
    if header is not None:
        main["header_checks"] = write_table(o, "header_checks", header)
    if body is not None:
        main["body_checks"] = write_table(o, "body_checks", body)
    if mime is not None:
        main["mime_header_checks"] = write_table(o, "mime_header_checks",
                                                 mime)
    if nested is not None:
        main["nested_header_checks"] = write_table(o, "nested_header_checks",
                                                   nested)
    main.update(params)
    o.update_main_cf(main)
    o.start_foreground()
    all_ready(o)
    return o


def new_token():
    return "tok-" + secrets.token_hex(12)


def message(token, headers=(), body=("body line",)):
    """CRLF message text: Subject with the token, extra headers, body."""
    lines = ["Subject: test %s" % token, "From: <sender@example.net>"]
    lines += list(headers)
    lines.append("")
    lines += list(body)
    return ("\r\n".join(lines) + "\r\n").encode()


def session(o, port=None):
    c = connect_smtp("127.0.0.1", port or o.port, 30.0)
    c.expect(220)
    c.command("EHLO client.example", expect=250)
    return c


def send(o, text, port=None, rcpt="rcpt@example.org"):
    """One message by DATA on a new session; returns the final reply."""
    with session(o, port) as c:
        c.command("MAIL FROM:<sender@example.net>", expect=250)
        c.command("RCPT TO:<%s>" % rcpt, expect=250)
        c.command("DATA", expect=354)
        c.send_raw(text + b".\r\n")
        r = c.read_reply()
        c.command("QUIT", expect=221)
    return r


def send_bdat(o, chunks):
    """One message in BDAT chunks (the last one LAST); the final reply."""
    with session(o) as c:
        c.command("MAIL FROM:<sender@example.net>", expect=250)
        c.command("RCPT TO:<rcpt@example.org>", expect=250)
        for i, chunk in enumerate(chunks):
            last = b" LAST" if i == len(chunks) - 1 else b""
            c.send_raw(b"BDAT %d%s\r\n" % (len(chunk), last) + chunk)
            r = c.read_reply()
            if i < len(chunks) - 1:
                assert r.code == 250, r
        c.command("QUIT", expect=221)
    return r


def queued_id(reply):
    if reply.code != 250:
        return None
    m = QUEUED_RE.match(reply.text)
    return m.group(1) if m else None


def unfinished_files(o):
    """Partial files in incoming/ (being received) and files in tmp/."""
    return partial_files(o.queue_dir) + committed_files(o.queue_dir, "tmp")


def incoming_with(o, token):
    """Names of the committed files in incoming/ that hold token."""
    out = []
    for name in committed_files(o.queue_dir):
        try:
            with open(os.path.join(o.queue_dir, "incoming", name),
                      "rb") as f:
                if token.encode() in f.read():
                    out.append(name)
        except FileNotFoundError:
            pass
    return out


def assert_nothing_queued(o, token):
    """No committed file in incoming/ holds token, and the partial file
    goes (the queue process removes an uncommitted file when smtpd lets
    go of it)."""
    assert incoming_with(o, token) == [], "a refused message was queued"
    wait_until(lambda: unfinished_files(o) == [], timeout=30,
               what="no unfinished queue file (left: %r)"
               % unfinished_files(o))
    assert incoming_with(o, token) == []


def queued_content(o, qid):
    """The message bytes of incoming/qid, by `ostia queue show`."""
    r = subprocess.run([o.binary, "-c", o.confdir, "queue", "show", qid],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=60)
    assert r.returncode == 0, "queue show %s: %r" % (qid, r.stderr)
    m = re.search(rb"^message-size: (\d+)\n\n", r.stdout, re.M)
    assert m, "no message-size line in %r" % r.stdout[:500]
    content = r.stdout[m.end():]
    assert len(content) == int(m.group(1))
    return content


def queue_ok(o, text, **kw):
    """Send text; assert it is queued; return its stored bytes."""
    r = send(o, text, **kw)
    qid = queued_id(r)
    assert qid, "not queued: %r" % r
    return queued_content(o, qid)


def split_stored(content):
    """(our Received: header, the rest) of stored message bytes."""
    m = re.match(rb"\AReceived: [^\r\n]*\r\n(?:\t[^\r\n]*\r\n)*", content)
    assert m, "no Received: header first: %r" % content[:300]
    return content[:m.end()], content[m.end():]


# ---------------------------------------------------------------- REJECT

def test_header_reject_gets_550_and_queues_nothing(ostia_factory):
    o = start(ostia_factory,
              header="/^Subject: .*forbidden/ REJECT Forbidden subject\n")
    tok = new_token()
    mark = o.log_mark()
    r = send(o, message(tok + " forbidden"))
    assert (r.code, r.text) == (550, "5.7.1 Forbidden subject"), r
    assert_nothing_queued(o, tok)
    o.wait_for_log(r"reject: header Subject: test %s forbidden from "
                   r"unknown\[127\.0\.0\.1\]; from=<sender@example\.net> "
                   r"to=<rcpt@example\.org> proto=ESMTP "
                   r"helo=<client\.example>: 5\.7\.1 Forbidden subject"
                   % tok, start=mark)
    # The same session goes on: the next message is queued.
    tok2 = new_token()
    stored = queue_ok(o, message(tok2))
    assert tok2.encode() in stored


def test_header_reject_under_soft_bounce(ostia_factory):
    """soft_bounce = yes: the client gets 450 4.7.1, and the log line
    says what it got."""
    o = start(ostia_factory,
              header="/^Subject: .*forbidden/ REJECT Forbidden subject\n",
              soft_bounce="yes")
    tok = new_token()
    mark = o.log_mark()
    r = send(o, message(tok + " forbidden"))
    assert (r.code, r.text) == (450, "4.7.1 Forbidden subject"), r
    assert_nothing_queued(o, tok)
    o.wait_for_log(r"reject: header Subject: test %s forbidden from "
                   r"unknown\[127\.0\.0\.1\]; .*: 4\.7\.1 Forbidden subject$"
                   % tok, start=mark)


def test_body_reject_default_text_and_a_4xx_code(ostia_factory):
    o = start(ostia_factory, body="/^bad body line$/ REJECT\n"
                                  "/^later please$/ REJECT 4.7.1 Try later\n")
    tok = new_token()
    r = send(o, message(tok, body=("fine", "bad body line", "more")))
    assert (r.code, r.text) == (550, "5.7.1 Message content rejected"), r
    assert_nothing_queued(o, tok)
    tok = new_token()
    r = send(o, message(tok, body=("later please",)))
    assert (r.code, r.text) == (451, "4.7.1 Try later"), r
    assert_nothing_queued(o, tok)


def test_mime_header_reject_of_an_attachment_name(ostia_factory):
    # mime_header_checks defaults to $header_checks.
    o = start(ostia_factory, header=(
        "/^Content-(Disposition|Type).*name\\s*=\\s*\"?(.*\\.(exe|vbs))\"?/\n"
        "  REJECT Attachment \"$2\" not allowed\n"))
    tok = new_token()
    text = message(tok, headers=(
        "MIME-Version: 1.0",
        "Content-Type: multipart/mixed; boundary=\"=_b\""), body=(
        "--=_b", "Content-Type: text/plain", "", "hello",
        "--=_b", "Content-Type: application/octet-stream",
        "Content-Disposition: attachment;", "\tfilename=\"run.exe\"", "",
        "TVqQAAMAAAAEAAAA", "--=_b--"))
    r = send(o, text)
    assert (r.code, r.text) == (550, "5.7.1 Attachment \"run.exe\" not "
                                "allowed"), r
    assert_nothing_queued(o, tok)


def test_nested_header_checks_see_an_attached_message(ostia_factory):
    o = start(ostia_factory, header="/^Subject: .*top/ WARN top seen\n",
              nested="/^Subject: inner secret/ REJECT Nested no\n")
    tok = new_token()
    text = message(tok, headers=(
        "Content-Type: multipart/mixed; boundary=b1",), body=(
        "--b1", "", "see attached",
        "--b1", "Content-Type: message/rfc822", "",
        "Subject: inner secret", "From: x@example.org", "", "inner body",
        "--b1--"))
    r = send(o, text)
    assert (r.code, r.text) == (550, "5.7.1 Nested no"), r
    assert_nothing_queued(o, tok)


def test_a_long_folded_header_is_matched_whole(ostia_factory):
    # Longer than DICT_KEY_MAX_BYTES (4096): pcre still sees all of it,
    # so padding cannot push a word out of the checks' sight.
    o = start(ostia_factory, header="/^Subject: test .*badword/ REJECT\n")
    tok = new_token()
    text = (b"Subject: test %s\r\n" % tok.encode() +
            b"".join(b"\t" + b"x" * 70 + b"\r\n" for _ in range(80)) +
            b"\tbadword\r\nFrom: <sender@example.net>\r\n\r\nb\r\n")
    assert len(text) > 5000
    r = send(o, text)
    assert (r.code, r.text) == (550, "5.7.1 Message content rejected"), r
    assert_nothing_queued(o, tok)


def test_regexp_tables_see_the_start_of_a_long_header(ostia_factory):
    # regexp: (POSIX regexec, no step limit) gets the first 4096 bytes of
    # a longer header, never nothing.
    o = ostia_factory()
    o.update_main_cf({"mynetworks": "127.0.0.0/8", "header_checks":
                      write_table(o, "hc", "/^Subject: test .* badword/ "
                                  "REJECT Regexp saw it\n", "regexp")})
    o.start_foreground()
    all_ready(o)
    tok = new_token()
    text = (b"Subject: test %s badword\r\n" % tok.encode() +
            b"".join(b"\t" + b"x" * 70 + b"\r\n" for _ in range(80)) +
            b"From: <sender@example.net>\r\n\r\nb\r\n")
    r = send(o, text)
    assert (r.code, r.text) == (550, "5.7.1 Regexp saw it"), r
    assert_nothing_queued(o, tok)


def test_8bit_header_is_matched_as_bytes(ostia_factory):
    # A Latin-1 byte (not UTF-8) must not hide a header from the checks.
    o = start(ostia_factory, header="/^Subject: .*caf\\xe9/ REJECT Latin\n")
    tok = new_token()
    with session(o) as c:
        c.command("MAIL FROM:<sender@example.net> BODY=8BITMIME",
                  expect=250)
        c.command("RCPT TO:<rcpt@example.org>", expect=250)
        c.command("DATA", expect=354)
        c.send_raw(b"Subject: %s caf\xe9\r\n\r\nb\r\n.\r\n" % tok.encode())
        r = c.read_reply()
    assert (r.code, r.text) == (550, "5.7.1 Latin"), r
    assert_nothing_queued(o, tok)


# ---------------------------------------------------------------- changes

def test_ignore_removes_a_header_from_the_queued_file(ostia_factory):
    o = start(ostia_factory, header="/^X-Remove-Me:/ IGNORE\n")
    tok = new_token()
    text = message(tok, headers=("X-Keep: 1", "X-Remove-Me: secret",
                                 "\tcontinued secret", "X-Keep: 2"))
    stored = queue_ok(o, text)
    _, rest = split_stored(stored)
    assert rest == text.replace(b"X-Remove-Me: secret\r\n\tcontinued "
                                b"secret\r\n", b""), rest


def test_prepend_and_replace_change_headers(ostia_factory):
    o = start(ostia_factory, header=(
        "/^Subject: (.*)/ REPLACE Subject: [checked] $1\n"
        "/^X-Mark:/ PREPEND X-Marked: yes\n"))
    tok = new_token()
    text = message(tok, headers=("X-Mark: 1",))
    stored = queue_ok(o, text)
    _, rest = split_stored(stored)
    want = text.replace(b"Subject: test", b"Subject: [checked] test") \
        .replace(b"X-Mark: 1\r\n", b"X-Marked: yes\r\nX-Mark: 1\r\n")
    assert rest == want, rest


def test_body_line_changes(ostia_factory):
    o = start(ostia_factory, body=("/^drop this line$/ IGNORE\n"
                                   "/^secret: (.*)$/ REPLACE secret: xxx\n"))
    tok = new_token()
    text = message(tok, body=("one", "drop this line", "secret: 1234",
                              "two"))
    _, rest = split_stored(queue_ok(o, text))
    assert rest == message(tok, body=("one", "secret: xxx", "two")), rest


def test_header_checks_see_our_received_header(ostia_factory):
    # As in Postfix, where smtpd's Received: goes through cleanup.
    o = start(ostia_factory, header=(
        "/^Received: from client\\.example .*by test\\.example/ "
        "PREPEND X-Saw-Received: yes\n"))
    tok = new_token()
    stored = queue_ok(o, message(tok))
    assert stored.startswith(b"X-Saw-Received: yes\r\nReceived: from "
                             b"client.example "), stored[:200]


def test_bdat_message_is_checked(ostia_factory):
    o = start(ostia_factory, header="/^X-Drop:/ IGNORE\n",
              body="/^no thanks$/ REJECT Body refused\n")
    tok = new_token()
    text = message(tok, headers=("X-Drop: 1",), body=("a", "b"))
    # Split inside the header line and inside a CRLF.
    cut1 = text.index(b"X-Drop") + 3
    cut2 = text.index(b"\r\na\r\n") + 1
    r = send_bdat(o, [text[:cut1], text[cut1:cut2], text[cut2:]])
    qid = queued_id(r)
    assert qid, r
    _, rest = split_stored(queued_content(o, qid))
    assert rest == text.replace(b"X-Drop: 1\r\n", b""), rest

    tok = new_token()
    text = message(tok, body=("x", "no thanks"))
    r = send_bdat(o, [text[:20], text[20:]])
    assert (r.code, r.text) == (550, "5.7.1 Body refused"), r
    assert_nothing_queued(o, tok)


# ---------------------------------------------------------------- log only

def test_warn_and_info_log_and_queue(ostia_factory):
    o = start(ostia_factory, header="/^X-Warn-Me:/ WARN suspicious header\n",
              body="/^note me$/ INFO noted\n")
    tok = new_token()
    mark = o.log_mark()
    text = message(tok, headers=("X-Warn-Me: 1",), body=("note me",))
    _, rest = split_stored(queue_ok(o, text))
    assert rest == text
    o.wait_for_log(r": warning: header X-Warn-Me: 1 from "
                   r"unknown\[127\.0\.0\.1\]; from=<sender@example\.net> "
                   r"to=<rcpt@example\.org> proto=ESMTP "
                   r"helo=<client\.example>: suspicious header$", start=mark)
    o.wait_for_log(r": info: body note me from unknown\[127\.0\.0\.1\];.*: "
                   r"noted$", start=mark)


# ---------------------------------------------------------------- DISCARD

def test_discard_answers_250_and_queues_nothing(ostia_factory):
    o = start(ostia_factory, header="/^Subject: .*discard me/ DISCARD bye\n")
    tok = new_token()
    mark = o.log_mark()
    r = send(o, message(tok + " discard me"))
    qid = queued_id(r)
    assert qid, "DISCARD must claim success: %r" % r
    assert_nothing_queued(o, tok)
    assert qid not in committed_files(o.queue_dir)
    o.wait_for_log(r"%s: discard: header Subject: test %s discard me from "
                   r"unknown\[127\.0\.0\.1\];.*: bye$" % (qid, tok),
                   start=mark)


# ---------------------------------------------------------------- failures

def test_a_failing_table_lookup_is_a_temporary_failure(ostia_factory):
    # Catastrophic backtracking: PCRE2's match limit stops it, and that
    # is a table failure, never "not found".
    o = start(ostia_factory, header="/^Subject: (a+)+$/ REJECT never\n")
    tok = new_token()
    mark = o.log_mark()
    text = b"Subject: " + b"a" * 40 + b"!\r\nX-Token: " + tok.encode() + \
        b"\r\n\r\nbody\r\n"
    r = send(o, text)
    assert (r.code, r.text) == (451, "4.3.0 Error: temporary lookup "
                                "failure"), r
    assert_nothing_queued(o, tok)
    o.wait_for_log(r"header/body checks: table lookup failed: .*match "
                   r"limit", start=mark)


# ---------------------------------------------------------------- override

def test_receive_override_options_turns_the_checks_off(ostia_factory):
    master = ("127.0.0.1:@port:smtp@ inet n - n - 1 smtpd\n"
              "127.0.0.1:@port:reinject@ inet n - n - 1 smtpd\n"
              "  -o receive_override_options=no_header_body_checks\n")
    o = start(ostia_factory, master_cf=master,
              header="/^Subject: .*forbidden/ REJECT\n")
    tok = new_token()
    r = send(o, message(tok + " forbidden"))
    assert r.code == 550, r
    tok = new_token()
    text = message(tok + " forbidden")
    stored = queue_ok(o, text, port=o.ports["reinject"])
    assert split_stored(stored)[1] == text


def test_a_table_that_does_not_open_stops_the_start(ostia_factory):
    # Fail closed: header_checks is honoured, so a table that does not
    # open is a configuration error (never a silent pass): `ostia check`
    # names it and the master refuses to start.
    o = ostia_factory()
    o.update_main_cf({"mynetworks": "127.0.0.0/8",
                      "header_checks": write_table(o, "header_checks",
                                                   "/unbalanced(/ REJECT\n")})
    r = o.cli("check")
    assert r.returncode == 2, r.stdout + r.stderr
    assert re.search(r"error: header_checks: table pcre:\S+header_checks: "
                     r".*line 1: bad regular expression", r.stderr), r.stderr


# ---------------------------------------------------------------- queue

def test_hold_filter_redirect_bcc_are_logged_and_queued(ostia_factory):
    # What they do to the queue file is the trailer's ('Q', 'F', 'J',
    # 'b'); here: the message is queued and each action is logged.
    o = start(ostia_factory, header=(
        "/^X-Hold:/ HOLD held for review\n"
        "/^X-Filter:/ FILTER smtp-amavis:[127.0.0.1]:10024\n"
        "/^X-Redirect:/ REDIRECT spam@example.net\n"
        "/^X-Bcc:/ BCC archive@example.net\n"))
    tok = new_token()
    mark = o.log_mark()
    text = message(tok, headers=("X-Hold: 1", "X-Filter: 1",
                                 "X-Redirect: 1", "X-Bcc: 1"))
    assert split_stored(queue_ok(o, text))[1] == text
    for action, hdr, arg in (
            ("hold", "X-Hold", "held for review"),
            ("filter", "X-Filter", r"smtp-amavis:\[127\.0\.0\.1\]:10024"),
            ("redirect", "X-Redirect", r"spam@example\.net"),
            ("bcc", "X-Bcc", r"archive@example\.net")):
        o.wait_for_log(r": %s: header %s: 1 from unknown\[127\.0\.0\.1\];"
                       r".*: %s$" % (action, hdr, arg), start=mark)
