# SPDX-License-Identifier: MIT
"""ESMTP extensions: SIZE (RFC 1870), DSN (RFC 3461), CHUNKING/BDAT
(RFC 3030), 8BITMIME (RFC 6152), unknown parameters, and the recipient
limit.
"""

import pytest

from smtp_e2e import (CLIENT, SIMPLE, SMTPD, assert_crlf_only,
                      assert_nothing_queued, assert_queued, ehlo,
                      expect_reply, queue_show, queued_id, quit_, send_data,
                      start_mail)

# ------------------------------------------------------------------ SIZE


def test_declared_size_over_the_limit(smtpd):
    o = smtpd({"message_size_limit": "1000"})
    c = ehlo(o)
    c.send_line("MAIL FROM:<a@example.org> SIZE=1001")
    expect_reply(c, 552, "5.3.4")
    o.wait_for_log(SMTPD + r"NOQUEUE: reject: MAIL from " + CLIENT
                   + r": 552 5\.3\.4 ")
    # The transaction did not start.
    c.send_line("RCPT TO:<b@example.net>")
    expect_reply(c, 503, "5.5.1")
    quit_(c)
    assert_nothing_queued(o)


def test_declared_size_at_the_limit(smtpd):
    o = smtpd({"message_size_limit": "1000"})
    c = ehlo(o)
    c.send_line("MAIL FROM:<a@example.org> SIZE=1000")
    expect_reply(c, 250, "2.1.0")
    c.send_line("RCPT TO:<b@example.net>")
    expect_reply(c, 250, "2.1.5")
    qid = queued_id(send_data(c, SIMPLE))
    quit_(c)
    assert queue_show(o, qid).get("size-declared") == "1000"


@pytest.mark.parametrize("value", ["abc", "", "-1", "1e3",
                                   "99999999999999999999999"])
def test_bad_size_value(smtpd, value):
    o = smtpd()
    c = ehlo(o)
    c.send_line("MAIL FROM:<a@example.org> SIZE=" + value)
    expect_reply(c, 501, "5.5.4")
    quit_(c)
    assert_nothing_queued(o)


def test_message_over_the_limit_without_size(smtpd):
    o = smtpd({"message_size_limit": "2000"})
    c = ehlo(o)
    start_mail(c)
    big = b"Subject: big\r\n\r\n" + (b"x" * 98 + b"\r\n") * 30
    r = send_data(c, big)
    assert r.code == 552 and r.lines[-1].startswith("5.3.4 "), r
    o.wait_for_log(SMTPD + r"[0-9A-Z]{16}: reject: DATA from " + CLIENT
                   + r": 552 5\.3\.4 ")
    assert_nothing_queued(o)
    # The session goes on: a message under the limit is queued.
    start_mail(c, "again@example.org")
    qid = queued_id(send_data(c, SIMPLE))
    quit_(c)
    assert assert_queued(o, 1) == [qid]
    assert queue_show(o, qid).get("sender") == "<again@example.org>"


def message_of(size):
    """A message of exactly size octets, lines under 100 octets."""
    text = b"Subject: sized\r\n\r\n"
    while size - len(text) > 100:
        text += b"q" * 98 + b"\r\n"
    text += b"y" * (size - len(text) - 2) + b"\r\n"
    assert len(text) == size
    return text


@pytest.mark.parametrize("size,ok", [(2000, True), (2001, False)])
def test_message_size_limit_boundary(smtpd, size, ok):
    o = smtpd({"message_size_limit": "2000"})
    c = ehlo(o)
    start_mail(c)
    r = send_data(c, message_of(size))
    if ok:
        qid = queued_id(r)
        assert queue_show(o, qid).body_without_received() == \
            message_of(size)
    else:
        assert (r.code, r.lines[-1][:6]) == (552, "5.3.4 "), r
        assert_nothing_queued(o)
    quit_(c)


def test_bdat_message_over_the_limit(smtpd):
    o = smtpd({"message_size_limit": "2000"})
    c = ehlo(o)
    start_mail(c)
    text = message_of(3000)
    c.send_raw(b"BDAT 1500\r\n" + text[:1500])
    expect_reply(c, 250, "2.0.0")
    c.send_raw(b"BDAT 1500 LAST\r\n" + text[1500:])
    expect_reply(c, 552, "5.3.4")
    c.send_line("NOOP")
    expect_reply(c, 250, "2.0.0")
    quit_(c)
    assert_nothing_queued(o)


def test_message_over_the_limit_with_a_lying_size(smtpd):
    o = smtpd({"message_size_limit": "2000"})
    c = ehlo(o)
    c.send_line("MAIL FROM:<a@example.org> SIZE=100")
    expect_reply(c, 250, "2.1.0")
    c.send_line("RCPT TO:<b@example.net>")
    expect_reply(c, 250, "2.1.5")
    r = send_data(c, b"Subject: big\r\n\r\n" + (b"y" * 98 + b"\r\n") * 30)
    assert r.code == 552 and r.lines[-1].startswith("5.3.4 "), r
    quit_(c)
    assert_nothing_queued(o)


def test_size_parameter_when_size_is_discarded(smtpd):
    o = smtpd({"smtpd_discard_ehlo_keywords": "size"})
    c = ehlo(o)
    c.send_line("MAIL FROM:<a@example.org> SIZE=10")
    expect_reply(c, 555, "5.5.4")
    quit_(c)
    assert_nothing_queued(o)


# ------------------------------------------------------------------- DSN

def test_dsn_parameters_are_kept(smtpd):
    o = smtpd()
    c = ehlo(o)
    c.send_line("MAIL FROM:<a@example.org> RET=HDRS ENVID=QQ314159+2Bx")
    expect_reply(c, 250, "2.1.0")
    c.send_line("RCPT TO:<b@example.net> NOTIFY=SUCCESS,FAILURE "
                "ORCPT=rfc822;b+40example.net")
    expect_reply(c, 250, "2.1.5")
    c.send_line("RCPT TO:<c@example.net> NOTIFY=NEVER")
    expect_reply(c, 250, "2.1.5")
    c.send_line("RCPT TO:<d@example.net> NOTIFY=delay")
    expect_reply(c, 250, "2.1.5")
    c.send_line("RCPT TO:<e@example.net>")
    expect_reply(c, 250, "2.1.5")
    qid = queued_id(send_data(c, SIMPLE))
    quit_(c)
    shown = queue_show(o, qid)
    assert shown.get("dsn-ret") == "HDRS"
    assert shown.get("dsn-envid") == "QQ314159+x"
    assert shown.recipients == [
        "<b@example.net> notify=SUCCESS,FAILURE orcpt=rfc822;b@example.net",
        "<c@example.net> notify=NEVER",
        "<d@example.net> notify=DELAY",
        "<e@example.net>"]


def test_dsn_ret_full(smtpd):
    o = smtpd()
    c = ehlo(o)
    c.send_line("MAIL FROM:<a@example.org> RET=FULL")
    expect_reply(c, 250, "2.1.0")
    c.send_line("RCPT TO:<b@example.net>")
    expect_reply(c, 250, "2.1.5")
    qid = queued_id(send_data(c, SIMPLE))
    quit_(c)
    shown = queue_show(o, qid)
    assert shown.get("dsn-ret") == "FULL"
    assert shown.get("dsn-envid") is None


@pytest.mark.parametrize("param", ["NOTIFY=NEVER,SUCCESS", "NOTIFY=",
                                   "NOTIFY=SOMETIMES", "ORCPT=b@example.net",
                                   "ORCPT=rfc822;b+4"])
def test_bad_rcpt_dsn_parameter(smtpd, param):
    o = smtpd()
    c = ehlo(o)
    start_mail(c, rcpts=())
    c.send_line("RCPT TO:<b@example.net> " + param)
    expect_reply(c, 501, "5.5.4")
    o.wait_for_log(SMTPD + r"NOQUEUE: reject: RCPT from " + CLIENT
                   + r": 501 5\.5\.4 ")
    c.send_line("DATA")
    expect_reply(c, 503, "5.5.1")
    quit_(c)
    assert_nothing_queued(o)


@pytest.mark.parametrize("param", ["RET=SOME", "RET=FULL RET=HDRS",
                                   "ENVID=" + "x" * 101, "ENVID=a+zz"])
def test_bad_mail_dsn_parameter(smtpd, param):
    o = smtpd()
    c = ehlo(o)
    c.send_line("MAIL FROM:<a@example.org> " + param)
    expect_reply(c, 501, "5.5.4")
    quit_(c)
    assert_nothing_queued(o)


@pytest.mark.parametrize("cmd,line", [
    ("MAIL", "MAIL FROM:<a@example.org> FOO=bar"),
    ("MAIL", "MAIL FROM:<a@example.org> FOO"),
    ("RCPT", "RCPT TO:<b@example.net> FOO=bar"),
])
def test_unknown_parameter(smtpd, cmd, line):
    o = smtpd()
    c = ehlo(o)
    if cmd == "RCPT":
        start_mail(c, rcpts=())
    c.send_line(line)
    expect_reply(c, 555, "5.5.4")
    o.wait_for_log(SMTPD + r"NOQUEUE: reject: %s from %s: 555 5\.5\.4 "
                   % (cmd, CLIENT))
    quit_(c)
    assert_nothing_queued(o)


@pytest.mark.parametrize("cmd,line", [
    ("MAIL", "MAIL FROM:<a@example.org> RET=FULL"),
    ("MAIL", "MAIL FROM:<a@example.org> ENVID=abc"),
    ("RCPT", "RCPT TO:<b@example.net> NOTIFY=SUCCESS"),
    ("RCPT", "RCPT TO:<b@example.net> ORCPT=rfc822;b@example.net"),
])
def test_dsn_parameter_when_dsn_is_discarded(smtpd, cmd, line):
    o = smtpd({"smtpd_discard_ehlo_keywords": "dsn"})
    c = ehlo(o)
    if cmd == "RCPT":
        start_mail(c, rcpts=())
    c.send_line(line)
    expect_reply(c, 555, "5.5.4")
    quit_(c)
    assert_nothing_queued(o)


# -------------------------------------------------------------- 8BITMIME

def test_body_8bitmime(smtpd):
    o = smtpd()
    c = ehlo(o)
    c.send_line("MAIL FROM:<a@example.org> BODY=8BITMIME")
    expect_reply(c, 250, "2.1.0")
    c.send_line("RCPT TO:<b@example.net>")
    expect_reply(c, 250, "2.1.5")
    text = "Subject: 8bit\r\n\r\nGrüße aus Köln\r\n".encode("utf-8")
    qid = queued_id(send_data(c, text))
    quit_(c)
    shown = queue_show(o, qid)
    assert shown.get("body") == "8BITMIME"
    assert shown.body_without_received() == text


def test_body_8bitmime_when_discarded(smtpd):
    o = smtpd({"smtpd_discard_ehlo_keywords": "8bitmime"})
    c = ehlo(o)
    c.send_line("MAIL FROM:<a@example.org> BODY=8BITMIME")
    expect_reply(c, 555, "5.5.4")
    quit_(c)
    assert_nothing_queued(o)


def test_bad_body_value(smtpd):
    o = smtpd()
    c = ehlo(o)
    c.send_line("MAIL FROM:<a@example.org> BODY=9BIT")
    expect_reply(c, 501, "5.5.4")
    quit_(c)
    assert_nothing_queued(o)


# ------------------------------------------------------------------ BDAT

def test_bdat_two_chunks_then_last(smtpd):
    o = smtpd()
    c = ehlo(o)
    start_mail(c)
    one = b"Subject: chunks\r\n\r\nfirst "
    two = b"chunk\r\n.not stuffed\r\n"
    last = b"..two dots stay\r\n"
    c.send_raw(b"BDAT %d\r\n" % len(one) + one)
    r = expect_reply(c, 250, "2.0.0")
    assert r.raw == ["250 2.0.0 %d octets received" % len(one)]
    c.send_raw(b"BDAT %d\r\n" % len(two) + two)
    expect_reply(c, 250, "2.0.0")
    c.send_raw(b"BDAT %d LAST\r\n" % len(last) + last)
    qid = queued_id(expect_reply(c, 250, "2.0.0"))
    quit_(c)
    assert assert_queued(o, 1) == [qid]
    shown = queue_show(o, qid)
    assert shown.body_without_received() == one + two + last
    assert_crlf_only(shown.message)
    o.wait_for_log(SMTPD + qid + r": from=<sender@example\.org>, size=%d, "
                   r"nrcpt=1 \(queued\)$" % len(shown.message))


def test_bdat_chunks_are_counted_as_successes(smtpd):
    o = smtpd()
    c = ehlo(o)
    start_mail(c)
    for chunk in (b"Subject: x\r\n", b"\r\n", b"body\r\n"):
        last = b" LAST" if chunk == b"body\r\n" else b""
        c.send_raw(b"BDAT %d%s\r\n" % (len(chunk), last) + chunk)
        expect_reply(c, 250, "2.0.0")
    quit_(c)
    m = o.wait_for_log(SMTPD + r"disconnect from " + CLIENT + r" .*$")
    assert m.group(0).endswith(" ehlo=1 mail=1 rcpt=1 bdat=3 quit=1 "
                               "commands=7"), m.group(0)


def test_bdat_0_last_after_chunks(smtpd):
    o = smtpd()
    c = ehlo(o)
    start_mail(c)
    one = b"Subject: chunks\r\n\r\n"
    two = b"body\r\n"
    c.send_raw(b"BDAT %d\r\n" % len(one) + one)
    expect_reply(c, 250, "2.0.0")
    c.send_raw(b"BDAT %d\r\n" % len(two) + two)
    expect_reply(c, 250, "2.0.0")
    c.send_raw(b"BDAT 0 LAST\r\n")
    qid = queued_id(expect_reply(c, 250, "2.0.0", timeout=3))
    quit_(c)
    assert assert_queued(o, 1) == [qid]
    assert queue_show(o, qid).body_without_received() == one + two


def test_bdat_0_last_alone(smtpd):
    o = smtpd()
    c = ehlo(o)
    start_mail(c)
    c.send_raw(b"BDAT 0 LAST\r\n")
    qid = queued_id(expect_reply(c, 250, "2.0.0", timeout=3))
    quit_(c)
    assert assert_queued(o, 1) == [qid]
    assert queue_show(o, qid).body_without_received() == b""


def test_bdat_0_without_last(smtpd):
    o = smtpd()
    c = ehlo(o)
    start_mail(c)
    c.send_raw(b"BDAT 0\r\n")
    r = expect_reply(c, 250, "2.0.0", timeout=3)
    assert r.raw == ["250 2.0.0 0 octets received"]
    quit_(c)


def test_bdat_0_last_followed_by_more_input(smtpd):
    # The same chunk is answered when the client's next command is
    # already there (this is what hides the bug above).
    o = smtpd()
    c = ehlo(o)
    start_mail(c)
    c.send_raw(b"BDAT 5\r\nabcde")
    expect_reply(c, 250, "2.0.0")
    c.send_raw(b"BDAT 0 LAST\r\nNOOP\r\n")
    qid = queued_id(expect_reply(c, 250, "2.0.0"))
    expect_reply(c, 250, "2.0.0")
    quit_(c)
    assert queue_show(o, qid).body_without_received() == b"abcde"


def test_bdat_chunk_with_commands_inside_is_data(smtpd):
    o = smtpd()
    c = ehlo(o)
    start_mail(c)
    text = (b"Subject: x\r\n\r\n.\r\nMAIL FROM:<evil@example.com>\r\n"
            b"RCPT TO:<victim@example.net>\r\nDATA\r\n")
    c.send_raw(b"BDAT %d LAST\r\n" % len(text) + text)
    qid = queued_id(expect_reply(c, 250, "2.0.0"))
    c.send_line("NOOP")
    expect_reply(c, 250, "2.0.0")
    quit_(c)
    assert assert_queued(o, 1) == [qid]
    assert queue_show(o, qid).body_without_received() == text


def test_bdat_without_mail_consumes_the_chunk(smtpd):
    o = smtpd()
    c = ehlo(o)
    chunk = b"RSET\r\nMAIL FROM:<x@example.org>\r\n"
    c.send_raw(b"BDAT %d\r\n" % len(chunk) + chunk)
    expect_reply(c, 503, "5.5.1")
    # The chunk was read as data and dropped: no replies for the
    # commands inside it, and no transaction was started by them.
    c.send_line("NOOP")
    r = expect_reply(c, 250, "2.0.0")
    assert r.raw == ["250 2.0.0 Ok"]
    c.send_line("RCPT TO:<b@example.net>")
    expect_reply(c, 503, "5.5.1")
    quit_(c)
    assert_nothing_queued(o)


def test_bdat_without_rcpt_consumes_the_chunk(smtpd):
    o = smtpd()
    c = ehlo(o)
    start_mail(c, rcpts=())
    chunk = b"NOOP\r\nNOOP\r\n"
    c.send_raw(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
    expect_reply(c, 503, "5.5.1")
    c.send_line("RCPT TO:<b@example.net>")
    expect_reply(c, 250, "2.1.5")
    qid = queued_id(send_data(c, SIMPLE))
    quit_(c)
    assert assert_queued(o, 1) == [qid]


def test_bdat_when_chunking_is_discarded(smtpd):
    o = smtpd({"smtpd_discard_ehlo_keywords": "chunking"})
    c = ehlo(o)
    start_mail(c)
    chunk = b"Subject: x\r\n\r\nbody\r\n"
    c.send_raw(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
    expect_reply(c, 502, "5.5.1")
    c.send_line("NOOP")
    expect_reply(c, 250, "2.0.0")
    quit_(c)
    assert_nothing_queued(o)


@pytest.mark.parametrize("arg", ["", "x", "10 NOTLAST", "-1"])
def test_bdat_bad_syntax_ends_the_session(smtpd, arg):
    # After a BDAT whose size cannot be read, nobody can know where the
    # next command starts: the reply is 501 and the session ends.
    o = smtpd()
    c = ehlo(o)
    start_mail(c)
    c.send_line(("BDAT " + arg).rstrip())
    expect_reply(c, 501, "5.5.4")
    assert c.wait_closed()
    assert_nothing_queued(o)


def test_data_after_bdat(smtpd):
    o = smtpd()
    c = ehlo(o)
    start_mail(c)
    c.send_raw(b"BDAT 4\r\nabcd")
    expect_reply(c, 250, "2.0.0")
    c.send_line("DATA")
    expect_reply(c, 503, "5.5.1")
    quit_(c)
    assert_nothing_queued(o)


def test_binarymime_with_data_is_refused(smtpd):
    o = smtpd()
    c = ehlo(o)
    c.send_line("MAIL FROM:<a@example.org> BODY=BINARYMIME")
    expect_reply(c, 250, "2.1.0")
    c.send_line("RCPT TO:<b@example.net>")
    expect_reply(c, 250, "2.1.5")
    c.send_line("DATA")
    expect_reply(c, 503, "5.5.1")
    quit_(c)
    assert_nothing_queued(o)


def test_binarymime_with_bdat(smtpd):
    o = smtpd()
    c = ehlo(o)
    c.send_line("MAIL FROM:<a@example.org> BODY=BINARYMIME")
    expect_reply(c, 250, "2.1.0")
    c.send_line("RCPT TO:<b@example.net>")
    expect_reply(c, 250, "2.1.5")
    text = (b"Subject: binary\r\nContent-Type: application/octet-stream\r\n"
            b"\r\n" + bytes(range(256)) + b"\r\n")
    c.send_raw(b"BDAT %d LAST\r\n" % len(text) + text)
    qid = queued_id(expect_reply(c, 250, "2.0.0"))
    quit_(c)
    shown = queue_show(o, qid)
    assert shown.get("body") == "BINARYMIME"
    assert shown.body_without_received() == text


def test_binarymime_when_chunking_is_discarded(smtpd):
    o = smtpd({"smtpd_discard_ehlo_keywords": "chunking"})
    c = ehlo(o)
    c.send_line("MAIL FROM:<a@example.org> BODY=BINARYMIME")
    expect_reply(c, 555, "5.5.4")
    quit_(c)
    assert_nothing_queued(o)


# ---------------------------------------------------------- recipients

def test_recipient_limit(smtpd):
    o = smtpd({"smtpd_recipient_limit": "2"})
    c = ehlo(o)
    start_mail(c, rcpts=("one@example.net", "two@example.net"))
    c.send_line("RCPT TO:<three@example.net>")
    expect_reply(c, 452, "4.5.3")
    # As in Postfix, a reject after the queue file exists names its ID
    # (the file is asked for at the first RCPT and may not be there yet).
    o.wait_for_log(SMTPD + r"(?:NOQUEUE|[0-9A-Z]{16}): reject: RCPT from "
                   + CLIENT
                   + r": 452 4\.5\.3 .*to=<three@example\.net>")
    qid = queued_id(send_data(c, SIMPLE))
    quit_(c)
    assert assert_queued(o, 1) == [qid]
    assert queue_show(o, qid).recipients == ["<one@example.net>",
                                             "<two@example.net>"]
    o.wait_for_log(SMTPD + qid + r": from=<sender@example\.org>, size=\d+, "
                   r"nrcpt=2 \(queued\)$")
