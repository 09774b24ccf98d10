# SPDX-License-Identifier: MIT
"""Whole messages through the SMTP server, with smtplib, swaks and raw
sockets: the 250 reply, what `ostia queue show` finds in the queue
file (envelope, Received: header, dot-unstuffed CRLF text) and the log
lines of a transaction.
"""

import re
import smtplib
import subprocess

from ostia_harness import require_peer
from smtp_e2e import (CLIENT, SMTPD, assert_crlf_only, assert_queued, ehlo,
                      expect_reply, queue_show, queued_id, quit_, send_data,
                      start_mail)

RECEIVED_RE = (r"Received: from %s \(unknown \[127\.0\.0\.1\]\)\r\n"
               r"\tby test\.example \(Ostia\) with %s id %s"
               r"(?:\r\n\tfor <[^>]+>)?; "
               r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} "
               r"\d\d:\d\d:\d\d [+-]\d{4}\r\n")


def assert_received(shown, helo, qid, proto="ESMTP"):
    m = re.match((RECEIVED_RE % (re.escape(helo), proto, qid)).encode(),
                 shown.message)
    assert m, shown.message[:300]
    return m


def test_full_message_with_smtplib(smtpd):
    o = smtpd()
    msg = (b"From: Sender <sender@example.org>\r\n"
           b"To: rcpt@example.net\r\n"
           b"Subject: smtplib\r\n"
           b"\r\n"
           b"First line.\r\n"
           b".x starts with a dot\r\n"
           b"Last line.\r\n")
    with smtplib.SMTP("127.0.0.1", o.port, local_hostname="client.example",
                      timeout=10) as s:
        code, _ = s.ehlo()
        assert code == 250
        assert s.has_extn("pipelining") and s.has_extn("size")
        code, text = s.mail("sender@example.org")
        assert (code, text) == (250, b"2.1.0 Ok")
        code, text = s.rcpt("rcpt@example.net")
        assert (code, text) == (250, b"2.1.5 Ok")
        # smtplib dot-stuffs ".x" into "..x" on the wire.
        code, text = s.data(msg)
        assert code == 250
        m = re.fullmatch(rb"2\.0\.0 Ok: queued as ([0-9A-Z]{16})", text)
        assert m, text
        qid = m.group(1).decode()
    assert assert_queued(o, 1) == [qid]
    shown = queue_show(o, qid)
    assert shown.get("id") == qid
    assert shown.get("sender") == "<sender@example.org>"
    assert shown.recipients == ["<rcpt@example.net>"]
    assert shown.get("client") == "unknown[127.0.0.1]"
    assert shown.get("helo") == "client.example"
    assert shown.get("protocol") == "ESMTP"
    m = assert_received(shown, "client.example", qid)
    assert b"\tfor <rcpt@example.net>" in m.group(0)
    assert shown.message[m.end():] == msg
    assert int(shown.get("message-size")) == len(shown.message)
    assert_crlf_only(shown.message)
    o.wait_for_log(SMTPD + qid + r": client=" + CLIENT + "$")
    o.wait_for_log(SMTPD + qid + r": from=<sender@example\.org>, size=%d, "
                   r"nrcpt=1 \(queued\)$" % len(shown.message))
    o.wait_for_log(SMTPD + r"disconnect from " + CLIENT + r" ehlo=1 mail=1 "
                   r"rcpt=1 data=1 quit=1 commands=5$")


def test_full_message_with_swaks(smtpd, tmp_path):
    swaks = require_peer("swaks")
    o = smtpd()
    body = (b"From: swaks@example.org\r\n"
            b"To: a@example.net, b@example.net\r\n"
            b"Subject: swaks\r\n"
            b"\r\n"
            b"Hello from swaks.\r\n"
            b"Second line.")
    data = tmp_path / "message.eml"
    # swaks adds the CRLF before the terminator itself.
    data.write_bytes(body)
    r = subprocess.run([swaks, "--server", "127.0.0.1:%d" % o.port,
                        "--helo", "swaks.example",
                        "--from", "swaks@example.org",
                        "--to", "a@example.net,b@example.net,c@example.com",
                        "--data", str(data), "--timeout", "10"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"<-  250 2\.0\.0 Ok: queued as ([0-9A-Z]{16})$",
                  r.stdout, re.M)
    assert m, r.stdout
    qid = m.group(1)
    assert assert_queued(o, 1) == [qid]
    shown = queue_show(o, qid)
    assert shown.get("sender") == "<swaks@example.org>"
    assert shown.recipients == ["<a@example.net>", "<b@example.net>",
                                "<c@example.com>"]
    m = assert_received(shown, "swaks.example", qid)
    # With several recipients the Received: header names none.
    assert b"\tfor <" not in m.group(0)
    assert shown.message[m.end():] == body + b"\r\n"
    assert_crlf_only(shown.message)
    o.wait_for_log(SMTPD + qid + r": from=<swaks@example\.org>, size=%d, "
                   r"nrcpt=3 \(queued\)$" % len(shown.message))
    o.wait_for_log(SMTPD + r"disconnect from " + CLIENT + r" ehlo=1 mail=1 "
                   r"rcpt=3 data=1 quit=1 commands=7$")


def test_swaks_pipelining(smtpd):
    swaks = require_peer("swaks")
    o = smtpd()
    r = subprocess.run([swaks, "--server", "127.0.0.1:%d" % o.port,
                        "--pipeline", "--helo", "swaks.example",
                        "--from", "p@example.org",
                        "--to", "x@example.net,y@example.net",
                        "--timeout", "10"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"250 2\.0\.0 Ok: queued as ([0-9A-Z]{16})$", r.stdout,
                  re.M)
    assert m, r.stdout
    assert assert_queued(o, 1) == [m.group(1)]
    assert queue_show(o, m.group(1)).recipients == ["<x@example.net>",
                                                    "<y@example.net>"]


def test_dot_unstuffing_and_line_ends(smtpd):
    o = smtpd()
    c = ehlo(o)
    start_mail(c, "a@example.org", ["b@example.net", "c@example.net"])
    wire = (b"Subject: dots\r\n"
            b"\r\n"
            b"..x\r\n"
            b"...\r\n"
            b"..\r\n"
            b"x.\r\n"
            b" .\r\n"
            b"\r\n"
            b"end\r\n")
    stored = (b"Subject: dots\r\n"
              b"\r\n"
              b".x\r\n"
              b"..\r\n"
              b".\r\n"
              b"x.\r\n"
              b" .\r\n"
              b"\r\n"
              b"end\r\n")
    r = send_data(c, wire)
    qid = queued_id(r)
    quit_(c)
    shown = queue_show(o, qid)
    assert shown.body_without_received() == stored
    assert_crlf_only(shown.message)
    assert shown.recipients == ["<b@example.net>", "<c@example.net>"]


HEADERS_IN = (b"Return-Path: <forged@example.com>\r\n"
              b"From: a@example.org\r\n"
              b"bcc: hidden@example.net,\r\n"
              b"\tother-hidden@example.net\r\n"
              b"Subject: drop\r\n"
              b" folded subject\r\n"
              b"X-Bcc: stays@example.net\r\n"
              b"Content-Length : 12\r\n"
              b"Resent-Bcc: r@example.net\r\n"
              b"\r\n"
              b"Bcc: a body line stays\r\n")


def test_message_drop_headers(smtpd):
    """message_drop_headers (Bcc, Content-Length, Resent-Bcc,
    Return-Path by default, as Postfix's cleanup) leave the header block
    with their continuation lines; lookalikes and the body stay."""
    o = smtpd()
    c = ehlo(o)
    start_mail(c)
    qid = queued_id(send_data(c, HEADERS_IN))
    quit_(c)
    assert queue_show(o, qid).body_without_received() == (
        b"From: a@example.org\r\n"
        b"Subject: drop\r\n"
        b" folded subject\r\n"
        b"X-Bcc: stays@example.net\r\n"
        b"\r\n"
        b"Bcc: a body line stays\r\n")


def test_message_drop_headers_can_be_emptied(smtpd):
    o = smtpd({"message_drop_headers": ""})
    c = ehlo(o)
    start_mail(c)
    qid = queued_id(send_data(c, HEADERS_IN))
    quit_(c)
    assert queue_show(o, qid).body_without_received() == HEADERS_IN


def test_message_without_final_crlf_gets_one(smtpd):
    # "text.CRLF" is not a terminator (it is "text." then CRLF), so a
    # message whose last line lacks CRLF cannot exist in DATA; check that
    # an empty message is stored as just our header.
    o = smtpd()
    c = ehlo(o)
    start_mail(c)
    qid = queued_id(send_data(c, b""))
    quit_(c)
    shown = queue_show(o, qid)
    assert shown.body_without_received() == b""


def test_first_line_with_white_space_starts_the_body(smtpd):
    """A message whose first line starts with a space or a tab (no
    header block) must not continue our Received: header: an empty
    line goes before it (Postfix's smtpd does the same), with DATA and
    with BDAT.  A message that starts with a header is left as sent."""
    o = smtpd()
    c = ehlo(o)
    texts = [b" indented first line\r\nSubject: not a header\r\n",
             b"\tTab first\r\n\r\nbody\r\n",
             b"Subject: x\r\n folded\r\n\r\nbody\r\n"]
    ids = []
    for text in texts:
        start_mail(c)
        ids.append(queued_id(send_data(c, text)))
    start_mail(c)
    c.send_raw(b"BDAT 1\r\n ")
    expect_reply(c, 250, "2.0.0")
    c.send_raw(b"BDAT 7 LAST\r\nx y\r\n\r\n")
    ids.append(queued_id(expect_reply(c, 250, "2.0.0")))
    quit_(c)
    stored = [queue_show(o, qid) for qid in ids]
    assert stored[0].body_without_received() == b"\r\n" + texts[0]
    assert stored[1].body_without_received() == b"\r\n" + texts[1]
    assert stored[2].body_without_received() == texts[2]
    assert stored[3].body_without_received() == b"\r\n x y\r\n\r\n"
    # The header block is our Received: header alone.
    head, body = stored[0].header_and_body()
    assert head.count(b"\r\n") == 3 and body == texts[0], head


def test_two_messages_in_one_session(smtpd):
    o = smtpd()
    c = ehlo(o)
    start_mail(c, "one@example.org")
    first = queued_id(send_data(c, b"Subject: 1\r\n\r\none\r\n"))
    start_mail(c, "two@example.org", ["x@example.net", "y@example.net"])
    second = queued_id(send_data(c, b"Subject: 2\r\n\r\ntwo\r\n"))
    quit_(c)
    assert first != second
    assert sorted(assert_queued(o, 2)) == sorted([first, second])
    assert queue_show(o, first).get("sender") == "<one@example.org>"
    assert queue_show(o, second).recipients == ["<x@example.net>",
                                                "<y@example.net>"]
    o.wait_for_log(SMTPD + r"disconnect from " + CLIENT + r" ehlo=1 mail=2 "
                   r"rcpt=3 data=2 quit=1 commands=9$")


def test_pipelining_done_right(smtpd):
    o = smtpd()
    c = ehlo(o)
    c.send_raw(b"MAIL FROM:<p@example.org>\r\n"
               b"RCPT TO:<a@example.net>\r\n"
               b"RCPT TO:<b@example.net>\r\n"
               b"DATA\r\n")
    expect_reply(c, 250, "2.1.0")
    expect_reply(c, 250, "2.1.5")
    expect_reply(c, 250, "2.1.5")
    expect_reply(c, 354)
    c.send_raw(b"Subject: pipelined\r\n\r\nbody\r\n.\r\n")
    qid = queued_id(expect_reply(c, 250, "2.0.0"))
    quit_(c)
    assert assert_queued(o, 1) == [qid]
    assert queue_show(o, qid).recipients == ["<a@example.net>",
                                             "<b@example.net>"]


def test_pipelined_refusals_keep_their_order(smtpd):
    o = smtpd()
    c = ehlo(o)
    c.send_raw(b"MAIL FROM:<p@example.org>\r\n"
               b"RCPT TO:<bad address>\r\n"
               b"RCPT TO:<a@example.net>\r\n"
               b"RSET\r\n"
               b"MAIL FROM:<q@example.org>\r\n"
               b"RCPT TO:<b@example.net>\r\n"
               b"DATA\r\n")
    expect_reply(c, 250, "2.1.0")
    expect_reply(c, 501, "5.1.3")
    expect_reply(c, 250, "2.1.5")
    expect_reply(c, 250, "2.0.0")
    expect_reply(c, 250, "2.1.0")
    expect_reply(c, 250, "2.1.5")
    expect_reply(c, 354)
    c.send_raw(b"Subject: after rset\r\n\r\nbody\r\n.\r\n")
    qid = queued_id(expect_reply(c, 250, "2.0.0"))
    quit_(c)
    shown = queue_show(o, qid)
    assert shown.get("sender") == "<q@example.org>"
    assert shown.recipients == ["<b@example.net>"]


def test_next_transaction_pipelined_after_the_end_of_data(smtpd):
    # RFC 2920 3.1: message content may be the first "command" of a
    # group, so ".", MAIL, RCPT and DATA may come in one send.
    o = smtpd()
    c = ehlo(o)
    start_mail(c, "first@example.org")
    c.send_line("DATA")
    expect_reply(c, 354)
    c.send_raw(b"Subject: 1\r\n\r\none\r\n.\r\n"
               b"MAIL FROM:<second@example.org>\r\n"
               b"RCPT TO:<x@example.net>\r\n"
               b"DATA\r\n")
    first = queued_id(expect_reply(c, 250, "2.0.0"))
    expect_reply(c, 250, "2.1.0")
    expect_reply(c, 250, "2.1.5")
    expect_reply(c, 354)
    c.send_raw(b"Subject: 2\r\n\r\ntwo\r\n.\r\nQUIT\r\n")
    second = queued_id(expect_reply(c, 250, "2.0.0"))
    expect_reply(c, 221, "2.0.0")
    assert c.wait_closed()
    assert sorted(assert_queued(o, 2)) == sorted([first, second])
    assert queue_show(o, second).get("sender") == "<second@example.org>"
    assert queue_show(o, first).body_without_received() == \
        b"Subject: 1\r\n\r\none\r\n"
