# SPDX-License-Identifier: MIT
"""The SMTP server's commands (RFC 5321) against the real binary:
greeting, EHLO/HELO and the keywords offered, RSET, NOOP, QUIT, VRFY,
HELP, unknown commands and commands out of order.

Every refusal is checked for its reply code, its enhanced status code
(RFC 3463) and that nothing was queued.
"""

import pytest

from smtp_e2e import (CLIENT, SIMPLE, SMTPD, assert_nothing_queued,
                      assert_queued, ehlo, expect_reply, greet, queue_show,
                      queued_id, quit_, send_data, send_message,
                      start_mail)

ALL_KEYWORDS = ["PIPELINING", "SIZE 10240000", "VRFY", "ENHANCEDSTATUSCODES",
                "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"]


def ehlo_keywords(reply):
    """The keywords of an EHLO reply (the first line is the host name)."""
    return reply.lines[1:]


def test_greeting_is_the_default_banner(smtpd):
    o = smtpd()
    c = o.smtp()
    r = c.read_reply()
    assert r.raw == ["220 test.example ESMTP Ostia"]
    o.wait_for_log(SMTPD + r"connect from " + CLIENT)
    quit_(c)


def test_greeting_with_a_custom_banner(smtpd):
    o = smtpd({"smtpd_banner": "$myhostname ESMTP ready, $mail_name here"})
    c = o.smtp()
    assert c.read_reply().raw == ["220 test.example ESMTP ready, Ostia here"]
    quit_(c)


def test_ehlo_offers_every_extension(smtpd):
    o = smtpd()
    c = greet(o)
    c.send_line("EHLO client.example")
    r = expect_reply(c, 250)
    assert r.lines[0] == "test.example"
    keywords = ehlo_keywords(r)
    for k in ALL_KEYWORDS:
        assert k in keywords, (k, r)
    assert set(keywords) <= set(ALL_KEYWORDS + ["HELP"]), r
    # Each keyword once.
    assert len(keywords) == len(set(keywords))
    quit_(c)


@pytest.mark.parametrize("keyword", ["pipelining", "size", "vrfy",
                                     "enhancedstatuscodes", "8bitmime",
                                     "dsn", "smtputf8", "chunking"])
def test_each_ehlo_keyword_can_be_discarded(smtpd, keyword):
    o = smtpd({"smtpd_discard_ehlo_keywords": keyword})
    c = greet(o)
    c.send_line("EHLO client.example")
    keywords = ehlo_keywords(expect_reply(c, 250))
    names = [k.split()[0] for k in keywords]
    assert keyword.upper() not in names, keywords
    for k in ALL_KEYWORDS:
        if k.split()[0] != keyword.upper():
            assert k in keywords, (k, keywords)
    quit_(c)


def test_discard_several_keywords_and_silent_discard(smtpd):
    o = smtpd({"smtpd_discard_ehlo_keywords":
               "silent-discard, dsn, PIPELINING, nosuchkeyword"})
    c = greet(o)
    c.send_line("EHLO client.example")
    keywords = ehlo_keywords(expect_reply(c, 250))
    assert sorted(keywords) == sorted(
        [k for k in ALL_KEYWORDS if k not in ("DSN", "PIPELINING")]
        + ["HELP"]), keywords
    quit_(c)


def test_size_without_a_number_when_unlimited(smtpd):
    o = smtpd({"message_size_limit": "0", "mailbox_size_limit": "0"})
    c = greet(o)
    c.send_line("EHLO client.example")
    keywords = ehlo_keywords(expect_reply(c, 250))
    assert "SIZE" in keywords, keywords
    assert not [k for k in keywords if k.startswith("SIZE ")], keywords
    # Any declared size is then fine, as long as the disk has room for
    # it (Postfix's rule, queue_has_room in smtpd.c).
    c.send_line("MAIL FROM:<a@example.org> SIZE=999999999")
    expect_reply(c, 250, "2.1.0")
    quit_(c)


def test_helo_reply_and_plain_smtp(smtpd):
    o = smtpd()
    c = greet(o)
    c.send_line("HELO client.example")
    r = expect_reply(c, 250)
    assert r.raw == ["250 test.example"]
    # No ESMTP parameters after HELO (RFC 5321 4.1.1.1).
    c.send_line("MAIL FROM:<a@example.org> SIZE=100")
    expect_reply(c, 555, "5.5.4")
    qid = send_message(c, SIMPLE)
    shown = queue_show(o, qid)
    assert shown.get("protocol") == "SMTP"
    assert shown.get("helo") == "client.example"
    quit_(c)


def test_ehlo_without_a_name_is_refused(smtpd):
    o = smtpd()
    c = greet(o)
    c.send_line("EHLO")
    expect_reply(c, 501, "5.5.4")
    c.send_line("HELO")
    expect_reply(c, 501, "5.5.4")
    quit_(c)
    assert_nothing_queued(o)


def test_helo_required_refuses_mail_first(smtpd):
    o = smtpd({"smtpd_helo_required": "yes"})
    c = greet(o)
    c.send_line("MAIL FROM:<a@example.org>")
    expect_reply(c, 503, "5.5.1")
    o.wait_for_log(SMTPD + r"NOQUEUE: reject: MAIL from " + CLIENT
                   + r": 503 5\.5\.1 ")
    c.send_line("HELO client.example")
    expect_reply(c, 250)
    c.send_line("MAIL FROM:<a@example.org>")
    expect_reply(c, 250, "2.1.0")
    quit_(c)
    assert_nothing_queued(o)


def test_helo_not_required_by_default(smtpd):
    o = smtpd()
    c = greet(o)
    qid = send_message(c, SIMPLE)
    assert queue_show(o, qid).get("helo") == ""
    quit_(c)


def test_rset_ends_the_transaction(smtpd):
    o = smtpd()
    c = ehlo(o)
    start_mail(c)
    c.send_line("RSET")
    expect_reply(c, 250, "2.0.0")
    c.send_line("DATA")
    expect_reply(c, 503, "5.5.1")
    c.send_line("RCPT TO:<rcpt@example.net>")
    expect_reply(c, 503, "5.5.1")
    # A new transaction works.
    send_message(c, SIMPLE)
    quit_(c)
    assert_queued(o, 1)


def test_noop(smtpd):
    o = smtpd()
    c = ehlo(o)
    c.send_line("NOOP")
    r = expect_reply(c, 250, "2.0.0")
    assert r.raw == ["250 2.0.0 Ok"]
    c.send_line("NOOP some argument")
    expect_reply(c, 250, "2.0.0")
    quit_(c)


def test_quit_closes_and_logs_the_counters(smtpd):
    o = smtpd()
    c = ehlo(o)
    c.send_line("QUIT")
    r = expect_reply(c, 221, "2.0.0")
    assert r.raw == ["221 2.0.0 Bye"]
    assert c.wait_closed()
    o.wait_for_log(SMTPD + r"disconnect from " + CLIENT
                   + r" ehlo=1 quit=1 commands=2$")


def test_vrfy_is_answered_252(smtpd):
    o = smtpd()
    c = ehlo(o)
    c.send_line("VRFY postmaster")
    expect_reply(c, 252, "2.0.0")
    c.send_line("VRFY")
    expect_reply(c, 501, "5.5.4")
    quit_(c)
    assert_nothing_queued(o)


def test_vrfy_disabled(smtpd):
    o = smtpd({"disable_vrfy_command": "yes"})
    c = greet(o)
    c.send_line("EHLO client.example")
    keywords = ehlo_keywords(expect_reply(c, 250))
    assert "VRFY" not in keywords
    c.send_line("VRFY postmaster")
    expect_reply(c, 502, "5.5.1")
    quit_(c)
    assert_nothing_queued(o)


def test_help(smtpd):
    o = smtpd()
    c = ehlo(o)
    c.send_line("HELP")
    r = expect_reply(c, 214, "2.0.0")
    for verb in ("HELO", "EHLO", "MAIL", "RCPT", "DATA", "QUIT"):
        assert verb in r.text
    quit_(c)


@pytest.mark.parametrize("line", ["FROB", "FROB with arguments", "EXPN root",
                                  "MAILFROM:<a@b>", "ETRN example.org"])
def test_unknown_command(smtpd, line):
    o = smtpd()
    c = ehlo(o)
    c.send_line(line)
    expect_reply(c, 502, "5.5.2")
    # The session goes on.
    c.send_line("NOOP")
    expect_reply(c, 250, "2.0.0")
    quit_(c)
    assert_nothing_queued(o)


def test_commands_are_case_insensitive(smtpd):
    o = smtpd()
    c = greet(o)
    c.send_line("ehlo client.example")
    expect_reply(c, 250)
    c.send_line("mail from:<a@example.org>")
    expect_reply(c, 250, "2.1.0")
    c.send_line("rcpt to:<b@example.net>")
    expect_reply(c, 250, "2.1.5")
    c.send_line("data")
    expect_reply(c, 354)
    c.send_raw(SIMPLE + b".\r\n")
    expect_reply(c, 250, "2.0.0")
    quit_(c)
    assert_queued(o, 1)


# ------------------------------------------------- commands out of order

def test_rcpt_before_mail(smtpd):
    o = smtpd()
    c = ehlo(o)
    c.send_line("RCPT TO:<rcpt@example.net>")
    expect_reply(c, 503, "5.5.1")
    quit_(c)
    assert_nothing_queued(o)


def test_data_before_mail(smtpd):
    o = smtpd()
    c = ehlo(o)
    c.send_line("DATA")
    expect_reply(c, 503, "5.5.1")
    # The would-be message text is then read as commands, each refused.
    c.send_line("Subject: x")
    expect_reply(c, 502, "5.5.2")
    quit_(c)
    assert_nothing_queued(o)


def test_data_before_rcpt(smtpd):
    o = smtpd()
    c = ehlo(o)
    c.send_line("MAIL FROM:<a@example.org>")
    expect_reply(c, 250, "2.1.0")
    c.send_line("DATA")
    expect_reply(c, 503, "5.5.1")
    quit_(c)
    assert_nothing_queued(o)


def test_nested_mail(smtpd):
    o = smtpd()
    c = ehlo(o)
    c.send_line("MAIL FROM:<a@example.org>")
    expect_reply(c, 250, "2.1.0")
    c.send_line("MAIL FROM:<b@example.org>")
    expect_reply(c, 503, "5.5.1")
    # The first transaction is still the one in force.
    c.send_line("RCPT TO:<rcpt@example.net>")
    expect_reply(c, 250, "2.1.5")
    qid = queued_id(send_data(c, SIMPLE))
    quit_(c)
    assert assert_queued(o, 1) == [qid]
    assert queue_show(o, qid).get("sender") == "<a@example.org>"


def test_data_with_an_argument(smtpd):
    o = smtpd()
    c = ehlo(o)
    start_mail(c)
    c.send_line("DATA now")
    expect_reply(c, 501, "5.5.4")
    quit_(c)
    assert_nothing_queued(o)


def test_ehlo_again_resets_the_transaction(smtpd):
    o = smtpd()
    c = ehlo(o)
    start_mail(c)
    c.send_line("EHLO again.example")
    expect_reply(c, 250)
    c.send_line("DATA")
    expect_reply(c, 503, "5.5.1")
    quit_(c)
    assert_nothing_queued(o)
