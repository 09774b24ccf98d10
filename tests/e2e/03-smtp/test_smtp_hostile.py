# SPDX-License-Identifier: MIT
"""Hostile and broken clients: over-long lines, NUL bytes, bare CR and
LF (RFC 5321 2.3.8), SMTP smuggling (CVE-2023-51764 class), error and
junk limits, improper pipelining, talking before the greeting, clients
that vanish, idle or trickle.

Each bad input gets one clear reply, and nothing is queued.  Timing
checks only have lower bounds.
"""

import os
import re
import signal
import socket
import time

import pytest

from ostia_harness import connect_smtp, process_stopped, wait_until
from smtp_e2e import (CLIENT, SIMPLE, SMTPD, assert_crlf_only,
                      assert_nothing_queued, assert_queued, ehlo,
                      expect_reply, greet, incoming_files, queue_show,
                      queued_id, quit_, send_data, start_mail,
                      unfinished_files)


def assert_only_reply_then_noop(c):
    """The next reply is the one to a NOOP sent now: nothing else was
    pending (a bad line was not split into more commands)."""
    c.send_line("NOOP")
    r = expect_reply(c, 250, "2.0.0")
    assert r.raw == ["250 2.0.0 Ok"], r
    assert c.buffered() == b""


def send_data_raw(c, text):
    """DATA, wait for 354, then text exactly as given (one send)."""
    c.send_line("DATA")
    expect_reply(c, 354)
    c.send_raw(text)
    return c.read_reply()


def smtpd_pids(o):
    """Children of the master that run an inet (smtpd) service."""
    out = []
    for pid in o.child_pids():
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"child" in argv and argv[argv.index(b"child") + 2] == b"inet":
            out.append(pid)
    return out


# ---------------------------------------------------------- line lengths

def test_command_line_of_512_octets_is_fine(smtpd):
    o = smtpd()
    c = ehlo(o)
    line = b"NOOP " + b"x" * (512 - 5 - 2)
    assert len(line + b"\r\n") == 512
    c.send_line(line)
    expect_reply(c, 250, "2.0.0")
    quit_(c)


def test_command_line_of_513_octets_is_refused(smtpd):
    o = smtpd()
    c = ehlo(o)
    line = b"NOOP " + b"x" * (513 - 5 - 2)
    assert len(line + b"\r\n") == 513
    c.send_line(line)
    expect_reply(c, 500, "5.5.2")
    assert_only_reply_then_noop(c)
    quit_(c)
    assert_nothing_queued(o)


def test_long_line_is_not_split_into_commands(smtpd):
    o = smtpd()
    c = ehlo(o)
    # If the server cut the line at 512 octets, what follows would be
    # read as a MAIL command.
    line = b"NOOP " + b"x" * 505 + b"MAIL FROM:<evil@example.com>"
    c.send_line(line)
    expect_reply(c, 500, "5.5.2")
    assert_only_reply_then_noop(c)
    c.send_line("RCPT TO:<victim@example.net>")
    expect_reply(c, 503, "5.5.1")
    quit_(c)
    assert_nothing_queued(o)


def test_very_long_line_gets_one_reply(smtpd):
    o = smtpd()
    c = ehlo(o)
    c.send_line(b"MAIL FROM:<" + b"a" * 100000 + b"@example.org>")
    expect_reply(c, 500, "5.5.2")
    assert_only_reply_then_noop(c)
    quit_(c)
    assert_nothing_queued(o)


def test_text_line_of_1000_octets_is_fine(smtpd):
    o = smtpd()
    c = ehlo(o)
    start_mail(c)
    line = b"y" * 998 + b"\r\n"
    assert len(line) == 1000
    qid = queued_id(send_data(c, b"Subject: long\r\n\r\n" + line))
    quit_(c)
    assert queue_show(o, qid).body_without_received() == \
        b"Subject: long\r\n\r\n" + line


def test_text_line_of_1001_octets_is_refused(smtpd):
    o = smtpd()
    c = ehlo(o)
    start_mail(c)
    line = b"y" * 999 + b"\r\n"
    assert len(line) == 1001
    r = send_data(c, b"Subject: long\r\n\r\n" + line + b"more\r\n")
    assert (r.code, r.lines[-1][:6]) == (500, "5.5.2 "), r
    o.wait_for_log(SMTPD + r"[0-9A-Z]{16}: reject: DATA from " + CLIENT
                   + r": 500 5\.5\.2 ")
    assert_nothing_queued(o)
    # The session goes on.
    start_mail(c)
    queued_id(send_data(c, SIMPLE))
    quit_(c)
    assert_queued(o, 1)


# -------------------------------------------------------------- NUL bytes

@pytest.mark.parametrize("line", [b"NOOP\x00", b"\x00NOOP",
                                  b"MAIL FROM:<a\x00b@example.org>"])
def test_nul_in_a_command(smtpd, line):
    o = smtpd()
    c = ehlo(o)
    c.send_line(line)
    expect_reply(c, 500, "5.5.2")
    assert_only_reply_then_noop(c)
    c.send_line("RCPT TO:<b@example.net>")
    expect_reply(c, 503, "5.5.1")
    quit_(c)
    assert_nothing_queued(o)


def test_nul_in_message_text(smtpd):
    o = smtpd()
    c = ehlo(o)
    start_mail(c)
    r = send_data(c, b"Subject: nul\r\n\r\nbefore\x00after\r\n")
    assert (r.code, r.lines[-1][:6]) == (550, "5.6.0 "), r
    o.wait_for_log(SMTPD + r"[0-9A-Z]{16}: reject: DATA from " + CLIENT
                   + r": 550 5\.6\.0 ")
    quit_(c)
    assert_nothing_queued(o)


def test_message_reject_and_strip_characters(smtpd):
    """message_reject_characters (Postfix's escapes: \\177 is DEL)
    refuses a message holding one of them, 550 5.7.1, with the byte in
    the log and nothing queued; message_strip_characters removes its
    bytes from what is stored; CR and LF cannot be listed (a warning)."""
    o = smtpd({"message_reject_characters": "\\177",
               "message_strip_characters": "\\001\\r"})
    c = ehlo(o)
    start_mail(c)
    r = send_data(c, b"Subject: del\r\n\r\nbefore\x7fafter\r\n")
    assert (r.code, r.lines[-1][:6]) == (550, "5.7.1 "), r
    o.wait_for_log(SMTPD + r"[0-9A-Z]{16}: the message contains the byte "
                   r"\\177, one of message_reject_characters")
    o.wait_for_log(SMTPD + r"[0-9A-Z]{16}: reject: DATA from " + CLIENT
                   + r": 550 5\.7\.1 ")
    assert_nothing_queued(o)
    start_mail(c)
    r = send_data(c, b"Subject: s\x01oh\r\n\r\nbe\x01fore\x01\r\n")
    assert r.code == 250, r
    qid = queued_id(r)
    shown = queue_show(o, qid)
    assert b"\x01" not in shown.message, shown.message
    assert b"Subject: soh\r\n\r\nbefore\r\n" in shown.message, \
        shown.message
    quit_(c)
    o.wait_for_log(r"warning: message_strip_characters: CR and LF end the "
                   r"message's lines and cannot be listed")


# -------------------------------------------------------------- mail loops

def received(n):
    return b"".join(b"Received: from hop%d.example by hop%d.example; "
                    b"Mon, 1 Jan 2024 00:00:00 +0000\r\n" % (i, i + 1)
                    for i in range(n))


@pytest.mark.parametrize("limit,sent,ok", [
    (None, 49, True),       # with ours, 50: Postfix's default limit
    (None, 50, False),
    ("5", 4, True),
    ("5", 5, False),
])
def test_hopcount_limit(smtpd, limit, sent, ok):
    """hopcount_limit: a message with more Received: headers (ours
    included) than the limit is refused, to stop a mail loop; Received:
    lines in the body, in a continuation or named otherwise do not
    count."""
    o = smtpd({"hopcount_limit": limit} if limit else None)
    c = ehlo(o)
    start_mail(c)
    text = (received(sent) + b"X-Received: no\r\n  Received: no\r\n"
            b"Subject: loop\r\n\r\n" + received(3))
    r = send_data(c, text)
    if ok:
        queued_id(r)
        quit_(c)
        assert_queued(o, 1)
        return
    assert (r.code, r.lines[-1]) == (554, "5.4.0 Error: too many hops"), r
    o.wait_for_log(SMTPD + r"[0-9A-Z]{16}: reject: DATA from " + CLIENT
                   + r": 554 5\.4\.0 Error: too many hops")
    o.wait_for_log(r"%d Received: headers \(ours included\) are more "
                   r"than hopcount_limit \(%s\): the message is probably "
                   r"in a mail loop" % (sent + 1, limit or "50"))
    # The session goes on.
    start_mail(c)
    queued_id(send_data(c, SIMPLE))
    quit_(c)
    assert_queued(o, 1)


# ------------------------------------------------- bare CR and LF: commands

@pytest.mark.parametrize("wire", [
    b"MAIL FROM:<a@example.org>\nRCPT TO:<c@example.net>\r\n",
    b"MAIL FROM:<a@example.org>\rRCPT TO:<c@example.net>\r\n",
    b"MAIL FROM:<a@example.org>\r\r\n",
    b"MAIL FROM:<a@example.org>\n\r\n",
    b"\nMAIL FROM:<a@example.org>\r\n",
], ids=["lf", "cr", "cr-crlf", "lf-crlf", "leading-lf"])
def test_bare_newline_in_a_command_is_one_bad_command(smtpd, wire):
    o = smtpd()
    c = ehlo(o)
    c.send_raw(wire)
    expect_reply(c, 500, "5.5.2")
    assert_only_reply_then_noop(c)
    # Neither half was run: there is no transaction.
    c.send_line("RCPT TO:<c@example.net>")
    expect_reply(c, 503, "5.5.1")
    quit_(c)
    assert_nothing_queued(o)
    o.wait_for_log(SMTPD + r"bare <CR> or <LF> in a command line from "
                   + CLIENT)


# ---------------------------------------------- bare CR and LF: message text

def test_bare_lf_in_text_is_normalized_by_default(smtpd):
    o = smtpd()
    c = ehlo(o)
    start_mail(c)
    r = send_data_raw(c, b"Subject: lf\n\nline one\nline two\r\n"
                      b"..dot\nlast\r\n.\r\n")
    qid = queued_id(r)
    quit_(c)
    shown = queue_show(o, qid)
    assert shown.body_without_received() == (
        b"Subject: lf\r\n\r\nline one\r\nline two\r\n.dot\r\nlast\r\n")
    assert_crlf_only(shown.message)


@pytest.mark.parametrize("text", [b"Subject: lf\n\nbody\r\n",
                                  b"Subject: lf\r\n\r\nbody\nmore\r\n"])
def test_bare_lf_in_text_rejected(smtpd, text):
    # The client is in mynetworks, excluded by default (below).
    o = smtpd({"smtpd_forbid_bare_newline": "reject",
               "smtpd_forbid_bare_newline_exclusions": ""})
    c = ehlo(o)
    start_mail(c)
    r = send_data(c, text)
    assert (r.code, r.lines[-1][:6]) == (550, "5.5.2 "), r
    o.wait_for_log(SMTPD + r"[0-9A-Z]{16}: reject: DATA from " + CLIENT
                   + r": 550 5\.5\.2 Error: bare <LF> received")
    assert_nothing_queued(o)
    # A clean message in the same session is fine.
    start_mail(c)
    queued_id(send_data(c, SIMPLE))
    quit_(c)
    assert_queued(o, 1)


def test_bare_lf_exclusions_and_reject_code(smtpd):
    """smtpd_forbid_bare_newline_exclusions ($mynetworks by default):
    an excluded client's bare LF is stored as a line end, as with
    normalize (never an end of message); the others get
    smtpd_forbid_bare_newline_reject_code, its enhanced code of the
    same class."""
    o = smtpd({"smtpd_forbid_bare_newline": "reject"})
    c = ehlo(o)
    start_mail(c)
    qid = queued_id(send_data_raw(c, b"Subject: lf\n\nbody\nmore\r\n"
                                     b".\r\n"))
    quit_(c)
    assert queue_show(o, qid).body_without_received() == (
        b"Subject: lf\r\n\r\nbody\r\nmore\r\n")
    o = smtpd({"smtpd_forbid_bare_newline": "reject",
               "smtpd_forbid_bare_newline_exclusions": "127.0.0.2",
               "smtpd_forbid_bare_newline_reject_code": "450"})
    c = ehlo(o)
    start_mail(c)
    r = send_data(c, b"Subject: lf\n\nbody\r\n")
    assert r.raw[-1].startswith("450 4.5.2 Error: bare <LF> received"), r
    quit_(c)
    assert_nothing_queued(o)


SMUGGLED = (b"MAIL FROM:<evil@x>\r\n"
            b"RCPT TO:<v@y>\r\n"
            b"DATA\r\n"
            b"Subject: smuggled\r\n"
            b"\r\n"
            b"smuggled body\r\n")

VARIANTS = [b"\n.\n", b"\n.\r\n", b"\r.\r", b"\r\n.\n", b"\r\n.\r",
            b"\n.\r", b"\r.\n", b"\r.\r\n"]
VARIANT_IDS = ["lf-dot-lf", "lf-dot-crlf", "cr-dot-cr", "crlf-dot-lf",
               "crlf-dot-cr", "lf-dot-cr", "cr-dot-lf", "cr-dot-crlf"]


@pytest.mark.parametrize("policy", ["normalize", "reject"])
@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
def test_smuggling_never_ends_the_message(smtpd, variant, policy):
    o = smtpd({"smtpd_forbid_bare_newline": policy,
               "smtpd_forbid_bare_newline_exclusions": ""})
    c = ehlo(o)
    start_mail(c, "good@example.org", ["rcpt@example.net"])
    text = (b"Subject: innocent\r\n\r\nhello" + variant + SMUGGLED
            + b".\r\n")
    r = send_data_raw(c, text)
    c.send_line("QUIT")
    if policy == "reject" and b"\n" in variant.replace(b"\r\n", b""):
        # The bare LF is refused; nothing that followed ran as commands.
        assert (r.code, r.lines[-1][:6]) == (550, "5.5.2 "), r
        expect_reply(c, 221, "2.0.0")
        assert c.wait_closed()
        assert_nothing_queued(o)
        return
    qid = queued_id(r)
    # Exactly one reply for the whole message, then the QUIT's.
    expect_reply(c, 221, "2.0.0")
    assert c.wait_closed()
    assert c.buffered() == b""
    assert assert_queued(o, 1) == [qid]
    shown = queue_show(o, qid)
    assert shown.get("sender") == "<good@example.org>"
    assert shown.recipients == ["<rcpt@example.net>"]
    body = shown.body_without_received()
    assert b"MAIL FROM:<evil@x>" in body
    assert b"smuggled body" in body
    o.wait_for_log(SMTPD + r"disconnect from " + CLIENT + r" ehlo=1 mail=1 "
                   r"rcpt=1 data=1 quit=1 commands=5$")
    o.assert_not_in_log(r"evil@x>, size")


# ------------------------------------------------------ error and junk limits

def test_error_limits(smtpd):
    o = smtpd({"smtpd_soft_error_limit": "2",
               "smtpd_error_sleep_time": "1s",
               "smtpd_hard_error_limit": "4"})
    c = ehlo(o)
    c.send_line("FROB")
    expect_reply(c, 502, "5.5.2")
    c.send_line("RCPT TO:<a@example.net>")
    expect_reply(c, 503, "5.5.1", timeout=5)
    start = time.monotonic()
    c.send_line("FROB")
    expect_reply(c, 502, "5.5.2", timeout=5)
    assert time.monotonic() - start >= 0.8
    c.send_line("FROB")
    expect_reply(c, 502, "5.5.2", timeout=5)
    r = expect_reply(c, 421, "4.7.0", timeout=5)
    assert "too many errors" in r.text
    assert c.wait_closed()
    o.wait_for_log(SMTPD + r"too many errors after UNKNOWN from " + CLIENT)
    assert_nothing_queued(o)


def test_soft_error_limit_allows_that_many_fast_errors(smtpd):
    # Seen without timing: the debug log says when a reply is delayed.
    o = smtpd({"smtpd_soft_error_limit": "2",
               "smtpd_error_sleep_time": "1s",
               "smtpd_hard_error_limit": "10",
               "debug_peer_list": "127.0.0.1",
               "debug_peer_level": "1"})
    c = ehlo(o)
    for _ in range(3):
        c.send_line("FROB")
        expect_reply(c, 502, "5.5.2", timeout=5)
    quit_(c)
    o.wait_for_log(SMTPD + r"disconnect from ")
    delayed = [l for l in o.log_text().splitlines()
               if "error limit reached" in l]
    assert len(delayed) == 1, delayed


def test_junk_command_limit(smtpd):
    o = smtpd({"smtpd_junk_command_limit": "3"})
    c = ehlo(o)
    for _ in range(3):
        c.send_line("NOOP")
        expect_reply(c, 250, "2.0.0")
    c.send_line("NOOP")
    expect_reply(c, 421, "4.7.0")
    assert c.wait_closed()
    o.wait_for_log(SMTPD + r"too many junk commands after NOOP from "
                   + CLIENT)
    assert_nothing_queued(o)


# ------------------------------------------------- smtpd_forbidden_commands

@pytest.mark.parametrize("line", ["GET / HTTP/1.1", "POST /login HTTP/1.0",
                                  "CONNECT mail.example:443 HTTP/1.1",
                                  "get /"])
def test_http_request_ends_the_session(smtpd, line):
    """A web browser or an HTTP proxy probe (smtpd_forbidden_commands,
    CONNECT GET POST by default) is told 221 and dropped at once,
    instead of getting an error per header line."""
    o = smtpd()
    c = greet(o)
    c.send_raw(line.encode() + b"\r\nHost: mail.example\r\n\r\n")
    r = expect_reply(c, 221, "2.7.0")
    assert "SMTP server" in r.text, r
    assert c.wait_closed()
    assert c.buffered() == b"", "a reply to the header lines came too"
    o.wait_for_log(SMTPD + r"warning: non-SMTP command from " + CLIENT +
                   r": %s; closed the connection \(smtpd_forbidden_"
                   r"commands" % re.escape(line))
    o.wait_for_log(SMTPD + r"disconnect from " + CLIENT +
                   r" unknown=0/1 commands=0/1$")
    assert_nothing_queued(o)


def test_forbidden_commands_can_be_changed(smtpd):
    """Only the listed words end a session; an empty list lets GET be
    one more unknown command; a table in the list is refused in words."""
    o = smtpd({"smtpd_forbidden_commands": "FROB regexp:/x/x"})
    c = ehlo(o)
    c.send_line("GET / HTTP/1.1")
    expect_reply(c, 502, "5.5.2")
    c.send_line("frob now")
    expect_reply(c, 221, "2.7.0")
    assert c.wait_closed()
    o.wait_for_log(r"smtpd_forbidden_commands: regexp:/x/x is a table, "
                   r"which is not supported here")
    o = smtpd({"smtpd_forbidden_commands": ""})
    c = ehlo(o)
    c.send_line("POST / HTTP/1.1")
    expect_reply(c, 502, "5.5.2")
    quit_(c)


# -------------------------------------------------------------- pipelining

def test_improper_pipelining_after_ehlo(smtpd):
    o = smtpd()
    c = greet(o)
    c.send_raw(b"EHLO client.example\r\nMAIL FROM:<a@example.org>\r\n")
    r = expect_reply(c, 554, "5.5.0")
    assert c.wait_closed()
    # The EHLO was not answered.
    assert r.raw == ["554 5.5.0 Error: SMTP protocol synchronization"]
    assert c.buffered() == b""
    o.wait_for_log(SMTPD + r"improper command pipelining after EHLO from "
                   + CLIENT)
    assert_nothing_queued(o)


def test_pipelining_after_ehlo_allowed_when_not_forbidden(smtpd):
    o = smtpd({"smtpd_forbid_unauth_pipelining": "no"})
    c = greet(o)
    c.send_raw(b"EHLO client.example\r\nMAIL FROM:<a@example.org>\r\n")
    r = expect_reply(c, 250)
    assert r.lines[0] == "test.example"
    expect_reply(c, 250, "2.1.0")
    c.send_line("RCPT TO:<b@example.net>")
    expect_reply(c, 250, "2.1.5")
    queued_id(send_data(c, SIMPLE))
    quit_(c)
    assert_queued(o, 1)


def test_data_followed_by_text_in_one_send(smtpd):
    o = smtpd()
    c = ehlo(o)
    start_mail(c)
    c.send_raw(b"DATA\r\nSubject: eager\r\n\r\nbody\r\n.\r\n")
    expect_reply(c, 554, "5.5.0")
    assert c.wait_closed()
    o.wait_for_log(SMTPD + r"improper command pipelining after DATA from "
                   + CLIENT)
    assert_nothing_queued(o)


def test_pipelining_after_helo(smtpd):
    # PIPELINING is an ESMTP extension: a HELO client may not use it.
    o = smtpd()
    c = greet(o)
    c.send_line("HELO client.example")
    expect_reply(c, 250)
    c.send_raw(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n")
    expect_reply(c, 554, "5.5.0")
    assert c.wait_closed()
    assert_nothing_queued(o)


def test_pipelining_when_not_offered(smtpd):
    o = smtpd({"smtpd_discard_ehlo_keywords": "pipelining"})
    c = ehlo(o)
    c.send_raw(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n")
    expect_reply(c, 554, "5.5.0")
    assert c.wait_closed()
    assert_nothing_queued(o)


def test_bdat_chunk_is_not_pipelining(smtpd):
    o = smtpd({"smtpd_discard_ehlo_keywords": "pipelining"})
    c = ehlo(o)
    start_mail(c)
    c.send_raw(b"BDAT 7 LAST\r\nhello\r\n")
    queued_id(expect_reply(c, 250, "2.0.0"))
    quit_(c)
    assert_queued(o, 1)


def test_quit_may_follow_in_the_same_send(smtpd):
    o = smtpd()
    c = ehlo(o)
    c.send_raw(b"RSET\r\nQUIT\r\n")
    expect_reply(c, 250, "2.0.0")
    expect_reply(c, 221, "2.0.0")
    assert c.wait_closed()


def talk_before_greeting(o):
    """Send EHLO before the server could greet: the smtpd child is
    stopped while the client connects and talks, so the bytes are
    already there when it accepts."""
    greet(o).close()          # the child is up and accepting
    [pid] = smtpd_pids(o)
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_until(lambda: process_stopped(pid), what="smtpd stopped")
        c = connect_smtp("127.0.0.1", o.port)
        c.send_raw(b"EHLO early.example\r\n")
        time.sleep(0.2)       # let the bytes reach the socket
    finally:
        os.kill(pid, signal.SIGCONT)
    return c


def test_talking_before_the_greeting_is_dropped(smtpd):
    o = smtpd()
    c = talk_before_greeting(o)
    r = expect_reply(c, 554, "5.5.0")
    assert r.raw == ["554 5.5.0 Error: SMTP protocol synchronization"]
    assert c.wait_closed()
    o.wait_for_log(SMTPD + CLIENT + r" talked before the greeting "
                   r"\(pregreet\)")
    assert_nothing_queued(o)


def test_talking_before_the_greeting_is_logged_when_allowed(smtpd):
    o = smtpd({"smtpd_forbid_unauth_pipelining": "no"})
    c = talk_before_greeting(o)
    expect_reply(c, 220)
    expect_reply(c, 250)
    quit_(c)
    o.wait_for_log(SMTPD + CLIENT + r" talked before the greeting "
                   r"\(pregreet\)")


# ----------------------------------------------- vanishing and slow clients

def test_disconnect_in_the_middle_of_data(smtpd):
    o = smtpd()
    c = ehlo(o)
    start_mail(c)
    c.send_line("DATA")
    expect_reply(c, 354)
    c.send_raw(b"Subject: cut\r\n\r\n" + b"half a message\r\n" * 100)
    mark = o.log_mark()
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    o.wait_for_log(SMTPD + r"lost connection after DATA from " + CLIENT,
                   start=mark)
    o.wait_for_log(SMTPD + r"[0-9A-Z]{16}: message not queued: the client "
                   r"went away")
    assert incoming_files(o) == []
    wait_until(lambda: not unfinished_files(o), timeout=5,
               what="no unfinished queue file (left: %r)"
               % unfinished_files(o))
    assert_nothing_queued(o)


def test_disconnect_in_the_middle_of_a_bdat_chunk(smtpd):
    o = smtpd()
    c = ehlo(o)
    start_mail(c)
    c.send_raw(b"BDAT 1000 LAST\r\n" + b"x" * 400)
    time.sleep(0.2)
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    o.wait_for_log(SMTPD + r"lost connection after BDAT from " + CLIENT)
    assert incoming_files(o) == []
    wait_until(lambda: not unfinished_files(o), timeout=5,
               what="no unfinished queue file (left: %r)"
               % unfinished_files(o))
    assert_nothing_queued(o)


def test_idle_client_times_out(smtpd):
    o = smtpd({"smtpd_timeout": "2s"})
    c = greet(o)
    start = time.monotonic()
    r = expect_reply(c, 421, "4.4.2", timeout=15)
    assert time.monotonic() - start >= 1.8
    assert "timeout" in r.text
    assert c.wait_closed()
    o.wait_for_log(SMTPD + r"timeout after CONNECT from " + CLIENT)
    assert_nothing_queued(o)


def test_idle_client_in_data_times_out(smtpd):
    o = smtpd({"smtpd_timeout": "2s"})
    c = ehlo(o)
    start_mail(c)
    c.send_line("DATA")
    expect_reply(c, 354)
    c.send_raw(b"Subject: then silence\r\n")
    expect_reply(c, 421, "4.4.2", timeout=15)
    assert c.wait_closed()
    o.wait_for_log(SMTPD + r"timeout after DATA from " + CLIENT)
    assert_nothing_queued(o)


def test_slow_data_sender(smtpd):
    o = smtpd({"smtpd_timeout": "2s", "smtpd_min_data_rate": "1000000"})
    c = ehlo(o)
    start_mail(c)
    c.send_line("DATA")
    expect_reply(c, 354)
    reply = None
    deadline = time.monotonic() + 8
    while reply is None and time.monotonic() < deadline:
        try:
            c.send_raw(b"x")
        except OSError:
            pass
        try:
            reply = c.read_reply(timeout=0.5)
        except AssertionError:   # SmtpError: nothing yet
            pass
    assert reply is not None, "no reply to a trickling DATA sender"
    assert (reply.code, reply.lines[-1][:6]) == (421, "4.4.2 "), reply
    assert c.wait_closed()
    o.wait_for_log(SMTPD + r"[0-9A-Z]{16}: timeout: data arrives slower "
                   r"than smtpd_min_data_rate \(1000000 bytes/s\)")
    assert_nothing_queued(o)
