# SPDX-License-Identifier: MIT
"""notify_classes: what the postmaster hears about by mail.

The postmaster is a local virtual mailbox here, so every notice lands in
a Maildir the test reads:

- bounce: the postmaster gets a copy of each bounce ("Postmaster Copy:
  Undelivered Mail"), from the double-bounce sender, with the original's
  headers only (never its body), naming the original sender; the
  sender's own bounce is unchanged.
- delay: the same for delay notices ("Postmaster Warning: Delayed Mail").
- the default ("resource, software"): no copies of bounces.
- protocol / policy: smtpd mails the postmaster a transcript of a
  session with such an error ("In:" and "Out:" lines, AUTH arguments
  shown as "****", message text never included); a session whose
  errors are of a class not asked for sends nothing.
(An unknown word in notify_classes: 01-config, BAD_MAIN.)
"""

import re
import socket

from delivery_e2e import (ERROR_DOMAIN, LMTP_DOMAIN, SENDER, VDOMAIN, WAIT,
                          Dsn, check_dsn_structure, header_block,
                          make_message, read_bytes, settle, token)

POSTMASTER = "postmaster@" + VDOMAIN


def header(raw, name):
    for h in header_block(raw):
        k, _, v = h.partition(b":")
        if k.strip().lower() == name.lower().encode():
            return v.strip().decode("utf-8", "replace")
    return None


def test_bounce_class_copies_bounces_to_the_postmaster(delivery):
    d = delivery()
    d.params.update({"notify_classes": "bounce",
                     "bounce_notice_recipient": POSTMASTER})
    d.start()
    tok = token()
    x = "x@" + ERROR_DOMAIN
    d.send(x, make_message(tok, to=x))
    # The sender's own bounce: the whole message, as always.
    dsn = d.wait_dsn(SENDER, tok)
    check_dsn_structure(dsn)
    assert dsn.returned_type == "message/rfc822", dsn.describe()
    assert header(dsn.raw, "subject").startswith("Undelivered Mail"), \
        dsn.describe()
    # The postmaster's copy.
    [path] = d.wait_messages(POSTMASTER, 1, tok)
    copy = Dsn(read_bytes(path), path)
    check_dsn_structure(copy)
    assert copy.raw.split(b"\n")[0].startswith(b"Return-Path: <double-"
                                               b"bounce"), \
        "the copy must come from the double-bounce sender:\n" + \
        copy.raw[:300].decode("utf-8", "replace")
    assert header(copy.raw, "subject") == \
        "Postmaster Copy: Undelivered Mail", copy.describe()
    assert POSTMASTER in header(copy.raw, "to"), copy.describe()
    assert copy.returned_type == "text/rfc822-headers", copy.describe()
    assert ("Subject: delivery test %s" % tok).encode() in copy.returned
    assert ("Hello, this is %s." % tok).encode() not in copy.raw, \
        "the postmaster copy must not carry the body:\n" + copy.describe()
    assert copy.recipient(x).get("action") == "failed", copy.describe()
    assert SENDER in copy.per_message.get("x-ostia-sender", ""), \
        copy.describe()
    assert SENDER in copy.text, \
        "the prose should name the original sender:\n" + copy.text
    d.wait_log(r"postmaster copy: ")
    d.wait_queue_empty()
    assert len(d.messages(POSTMASTER)) == 1, d.diag()


def test_default_classes_send_no_bounce_copies(delivery):
    d = delivery().start()      # notify_classes = resource, software
    tok = token()
    x = "x@" + ERROR_DOMAIN
    d.send(x, make_message(tok, to=x))
    d.wait_dsn(SENDER, tok)
    d.wait_queue_empty()
    settle(2)
    assert not d.messages(POSTMASTER), \
        "no postmaster copy without bounce in notify_classes:\n" + d.diag()
    assert "postmaster copy" not in d.o.log_text()


def test_delay_class_copies_delay_notices(delivery, lmtp_server):
    srv = lmtp_server()
    d = delivery()
    d.route(LMTP_DOMAIN, "lmtp:" + srv.nexthop)
    d.params.update({"notify_classes": "delay",
                     "delay_notice_recipient": POSTMASTER,
                     "delay_warning_time": "2s"})
    d.start()
    tok = token()
    a = "a@" + LMTP_DOMAIN
    srv.rule(None, "451 4.2.1 slow down %s" % tok)
    d.send(a, make_message(tok, to=a))
    dsn = d.wait_dsn(SENDER, tok)
    assert dsn.recipient(a).get("action") == "delayed", dsn.describe()
    [path] = d.wait_messages(POSTMASTER, 1, tok)
    copy = Dsn(read_bytes(path), path)
    check_dsn_structure(copy)
    assert header(copy.raw, "subject") == \
        "Postmaster Warning: Delayed Mail", copy.describe()
    assert copy.recipient(a).get("action") == "delayed", copy.describe()
    assert ("Hello, this is %s." % tok).encode() not in copy.raw
    srv.clear(None)
    srv.wait(lambda s: s.delivered(a) >= 1, "delivery", diag=d.diag)


class Client:
    """A raw SMTP client: sends lines, reads whole replies."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.f = self.s.makefile("rb")
        self.reply()

    def reply(self):
        lines = []
        while True:
            line = self.f.readline()
            assert line, "connection closed; got %r" % lines
            lines.append(line.decode("utf-8", "replace").rstrip("\r\n"))
            if len(line) < 4 or line[3:4] != b"-":
                return lines

    def cmd(self, text):
        self.s.sendall(text.encode() + b"\r\n")
        return self.reply()

    def close(self):
        self.s.close()


def transcripts(d):
    out = []
    for p in d.messages(POSTMASTER):
        raw = read_bytes(p)
        if b"SMTP server: errors from" in raw:
            out.append(raw)
    return out


def test_protocol_transcript_to_the_postmaster(delivery):
    d = started(delivery, "protocol")
    tok = token()
    c = Client(d.o.port)
    assert c.cmd("EHLO proto-%s.test" % tok)[-1].startswith("250")
    assert c.cmd("BOGUS%s" % tok)[-1].startswith("502 5.5.2")
    # Whatever the reply, the argument must never reach the notice.
    c.cmd("AUTH PLAIN c2VjcmV0LSVz%s" % tok)
    c.cmd("auth\tplain dGFiYmVkLXNlY3JldA%s" % tok)    # not AUTH: masked too
    assert c.cmd("MAIL FROM:<%s>" % SENDER)[-1].startswith("250")
    assert c.cmd("RCPT TO:<alice@%s>" % VDOMAIN)[-1].startswith("250")
    assert c.cmd("DATA")[-1].startswith("354")
    assert c.cmd("Subject: t\r\n\r\nbody-%s\r\n." % tok)[-1] \
        .startswith("250")
    assert c.cmd("QUIT")[-1].startswith("221")
    c.close()
    [path] = d.wait_messages(POSTMASTER, 1, "proto-" + tok)
    raw = read_bytes(path)
    assert raw.split(b"\n")[0].startswith(b"Return-Path: <double-bounce"), \
        raw[:300]
    subj = header(raw, "subject")
    assert re.match(r"\S+ SMTP server: errors from \S*\[127\.0\.0\.1\]",
                    subj), subj
    body = raw.decode("utf-8", "replace")
    assert re.search(r"In: +EHLO proto-%s\.test" % tok, body), body
    assert re.search(r"In: +BOGUS%s" % tok, body), body
    assert re.search(r"Out: +502 5\.5\.2 Error: command not recognized",
                     body), body
    assert re.search(r"In: +AUTH PLAIN \*\*\*\*", body), body
    assert "c2VjcmV0LSVz" not in body, "an AUTH argument leaked:\n" + body
    assert "dGFiYmVkLXNlY3JldA" not in body, "an AUTH-like line leaked:\n" + \
        body
    assert re.search(r"In: +auth \*\*\*\*$", body, re.M), body
    assert "body-" + tok not in body, "message text leaked:\n" + body
    assert re.search(r"Out: +250 2\.0\.0 Ok: queued as", body), body
    assert "protocol" in body
    d.wait_log(r"postmaster notice: errors from \S*\[127\.0\.0\.1\]")


def started(delivery, classes):
    d = delivery()
    d.params.update({"notify_classes": classes,
                     "error_notice_recipient": POSTMASTER})
    return d.start()


def refused_recipient_session(d, tok):
    """A session whose only error is a policy refusal (unknown mailbox);
    HELO policy-TOK."""
    c = Client(d.o.port)
    c.cmd("EHLO policy-%s.test" % tok)
    c.cmd("MAIL FROM:<%s>" % SENDER)
    r = c.cmd("RCPT TO:<nobody-%s@%s>" % (tok, VDOMAIN))
    assert r[-1].startswith("550 5.1.1"), r
    c.cmd("QUIT")
    c.close()


def test_transcript_only_for_wanted_classes(delivery):
    d = started(delivery, "protocol")
    tok = token()
    refused_recipient_session(d, tok)    # policy: not asked for
    # Then a protocol error: its notice is the marker that the first
    # session's end was handled (sessions end in order here).
    c = Client(d.o.port)
    c.cmd("EHLO marker-%s.test" % tok)
    c.cmd("NOSUCH")
    c.cmd("QUIT")
    c.close()
    d.wait_messages(POSTMASTER, 1, "marker-" + tok)
    d.wait_queue_empty()
    found = transcripts(d)
    assert len(found) == 1, "only the protocol error's session should " \
        "be reported, got %d notices" % len(found)
    assert b"policy-" + tok.encode() not in found[0]


def test_policy_transcript(delivery):
    d = started(delivery, "policy")
    tok = token()
    refused_recipient_session(d, tok)
    [path] = d.wait_messages(POSTMASTER, 1, "policy-" + tok)
    body = read_bytes(path).decode("utf-8", "replace")
    assert re.search(r"In: +RCPT TO:<nobody-%s@" % tok, body), body
    assert re.search(r"Out: +550 5\.1\.1 ", body), body


def refused_mail_transcript(d, name, mail_args, reply):
    """A session (HELO NAME-TOKEN) whose MAIL FROM gets reply; returns
    the transcript the postmaster receives."""
    tok = token()
    c = Client(d.o.port)
    c.cmd("EHLO %s-%s.test" % (name, tok))
    r = c.cmd("MAIL FROM:<%s>%s" % (SENDER, mail_args))
    assert r[-1].startswith(reply), r
    c.cmd("QUIT")
    c.close()
    [path] = d.wait_messages(POSTMASTER, 1, "%s-%s" % (name, tok))
    return read_bytes(path).decode("utf-8", "replace")


def test_default_classes_report_mail_turned_away_for_want_of_space(delivery):
    """The default notify_classes ("resource, software"): a client told
    452 4.3.1 because the queue's file system is short of space
    (queue_minfree) gets its session reported; the notice itself is
    still queued (as Postfix's cleanup does, it does not check
    queue_minfree)."""
    d = delivery()
    d.params.update({"error_notice_recipient": POSTMASTER,
                     "queue_minfree": "9000000000000000000"})
    d.start()
    body = refused_mail_transcript(d, "space", "", "452 4.3.1")
    assert re.search(r"Errors: +resource\b", body), body
    assert re.search(r"Out: +452 4\.3\.1 ", body), body


def test_bounce_class_transcript_of_a_message_too_big(delivery):
    """bounce: a session refused a message for its size is reported to
    bounce_notice_recipient (not error_notice_recipient)."""
    d = delivery()
    other = "alice@" + VDOMAIN
    d.params.update({"notify_classes": "bounce",
                     "bounce_notice_recipient": POSTMASTER,
                     "error_notice_recipient": other,
                     "message_size_limit": "100000"})
    d.start()
    body = refused_mail_transcript(d, "big", " SIZE=2000000", "552 5.3.4")
    assert re.search(r"Errors: +bounce\b", body), body
    assert re.search(r"Out: +552 5\.3\.4 ", body), body
    d.wait_queue_empty()
    assert not d.messages(other), "the transcript went to " \
        "error_notice_recipient too:\n" + d.diag()
