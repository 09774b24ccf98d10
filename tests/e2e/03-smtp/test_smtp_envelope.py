# SPDX-License-Identifier: MIT
"""Envelope addresses (RFC 5321 4.1.2, RFC 6531): what MAIL FROM and
RCPT TO accept, how it is stored, and what is refused with which code.
"""

import pytest

from smtp_e2e import (CLIENT, SIMPLE, SMTPD, assert_nothing_queued,
                      assert_queued, ehlo, expect_reply, queue_show,
                      queued_id, quit_, send_data)


def one_message(o, mail_args, rcpt_args):
    """MAIL FROM:mail_args, RCPT TO:each of rcpt_args, a small message;
    return `queue show` of it."""
    c = ehlo(o)
    c.send_line("MAIL FROM:" + mail_args)
    expect_reply(c, 250, "2.1.0")
    for a in rcpt_args:
        c.send_line("RCPT TO:" + a)
        expect_reply(c, 250, "2.1.5")
    qid = queued_id(send_data(c, SIMPLE))
    quit_(c)
    assert assert_queued(o, 1) == [qid]
    return queue_show(o, qid)


def refused(o, mail_args, code, enhanced, rcpt_args=None):
    """MAIL (or, with rcpt_args, a good MAIL then RCPT) is refused with
    code/enhanced; the session goes on; nothing is queued."""
    c = ehlo(o)
    if rcpt_args is None:
        c.send_line("MAIL FROM:" + mail_args)
        r = expect_reply(c, code, enhanced)
        cmd = "MAIL"
    else:
        c.send_line("MAIL FROM:" + mail_args)
        expect_reply(c, 250, "2.1.0")
        c.send_line("RCPT TO:" + rcpt_args)
        r = expect_reply(c, code, enhanced)
        cmd = "RCPT"
        c.send_line("DATA")
        expect_reply(c, 503, "5.5.1")
    c.send_line("NOOP")
    expect_reply(c, 250, "2.0.0")
    quit_(c)
    assert_nothing_queued(o)
    o.wait_for_log(SMTPD + r"NOQUEUE: reject: %s from %s: %d %s "
                   % (cmd, CLIENT, code, enhanced.replace(".", r"\.")))
    return r


def test_null_sender(smtpd):
    o = smtpd()
    shown = one_message(o, "<>", ["<rcpt@example.net>"])
    assert shown.get("sender") == "<>"
    o.wait_for_log(SMTPD + r"[0-9A-Z]{16}: from=<>, size=\d+, nrcpt=1 "
                   r"\(queued\)$")


def test_null_recipient_is_refused(smtpd):
    o = smtpd()
    refused(o, "<a@example.org>", 501, "5.1.3", rcpt_args="<>")


def test_quoted_local_parts(smtpd):
    o = smtpd()
    shown = one_message(o, '<"john q. public"@example.org>',
                        ['<"a b"@example.net>', '<"x\\"y"@example.net>'])
    assert shown.get("sender") == '<"john q. public"@example.org>'
    assert shown.recipients == ['<"a b"@example.net>',
                                '<"x\\"y"@example.net>']


@pytest.mark.parametrize("addr", ["user@[127.0.0.1]", "user@[IPv6:::1]",
                                  "user@[IPv6:2001:db8::1]"])
def test_address_literals(smtpd, addr):
    # A literal of our own address is a local recipient: accept every
    # local user (no /etc/aliases to build on a test machine).
    o = smtpd({"local_recipient_maps": ""})
    shown = one_message(o, "<%s>" % addr, ["<%s>" % addr])
    assert shown.get("sender") == "<%s>" % addr
    assert shown.recipients == ["<%s>" % addr]


@pytest.mark.parametrize("addr", ["user@[300.0.0.1]", "user@[IPv6:zz::1]",
                                  "user@[127.0.0.1"])
def test_bad_address_literals(smtpd, addr):
    o = smtpd()
    refused(o, "<%s>" % addr, 501, "5.1.7")


@pytest.mark.parametrize("name", ["Postmaster", "postmaster", "POSTMASTER"])
def test_rcpt_to_postmaster_without_domain(smtpd, name):
    o = smtpd()
    shown = one_message(o, "<a@example.org>", ["<%s>" % name])
    assert shown.recipients == ["<%s>" % name]


def test_postmaster_without_domain_is_no_sender(smtpd):
    o = smtpd()
    refused(o, "<Postmaster>", 501, "5.1.7")


def test_source_route_is_stripped(smtpd):
    o = smtpd()
    shown = one_message(o, "<@relay.example:a@example.org>",
                        ["<@one.example,@two.example:b@example.net>"])
    assert shown.get("sender") == "<a@example.org>"
    assert shown.recipients == ["<b@example.net>"]


def test_percent_and_bang_are_kept(smtpd):
    o = smtpd()
    shown = one_message(o, "<a@example.org>",
                        ["<user%other.example@example.net>",
                         "<host!user@example.net>"])
    assert shown.recipients == ["<user%other.example@example.net>",
                                "<host!user@example.net>"]


def test_utf8_sender_without_smtputf8_is_refused(smtpd):
    o = smtpd()
    refused(o, "<jösé@exämple.org>", 553, "5.6.7")


def test_utf8_recipient_without_smtputf8_is_refused(smtpd):
    o = smtpd()
    refused(o, "<a@example.org>", 553, "5.6.7", rcpt_args="<ü@example.net>")


def test_utf8_addresses_with_smtputf8(smtpd):
    o = smtpd()
    shown = one_message(o, "<jösé@exämple.org> SMTPUTF8",
                        ["<ü@bücher.example>", "<plain@example.net>"])
    assert shown.get("sender") == "<jösé@exämple.org>"
    assert shown.recipients == ["<ü@bücher.example>", "<plain@example.net>"]
    assert shown.get("smtputf8") == "yes"
    assert shown.get("protocol") == "UTF8SMTP"


def test_smtputf8_flag_without_utf8_is_kept(smtpd):
    o = smtpd()
    shown = one_message(o, "<a@example.org> SMTPUTF8", ["<b@example.net>"])
    assert shown.get("smtputf8") == "yes"


def test_smtputf8_parameter_when_disabled(smtpd):
    o = smtpd({"smtputf8_enable": "no"})
    refused(o, "<a@example.org> SMTPUTF8", 555, "5.5.4")


def test_address_without_brackets_accepted_by_default(smtpd):
    o = smtpd()
    shown = one_message(o, "a@example.org", ["b@example.net"])
    assert shown.get("sender") == "<a@example.org>"
    assert shown.recipients == ["<b@example.net>"]


def test_strict_rfc821_envelopes_wants_brackets(smtpd):
    o = smtpd({"strict_rfc821_envelopes": "yes"})
    r = refused(o, "a@example.org", 501, "5.1.7")
    assert "Bad sender address syntax" in r.text


def test_strict_rfc821_envelopes_recipient(smtpd):
    o = smtpd({"strict_rfc821_envelopes": "yes"})
    refused(o, "<a@example.org>", 501, "5.1.3", rcpt_args="b@example.net")


def test_strict_rfc821_envelopes_accepts_brackets(smtpd):
    o = smtpd({"strict_rfc821_envelopes": "yes"})
    shown = one_message(o, "<a@example.org>", ["<b@example.net>"])
    assert shown.get("sender") == "<a@example.org>"


@pytest.mark.parametrize("arg", ["<a@@example.org>", "<a@example..org>",
                                 "<a b@example.org>", "<a@example.org",
                                 "<.a@example.org>", "<a@-example.org>"])
def test_bad_sender_syntax(smtpd, arg):
    o = smtpd()
    refused(o, arg, 501, "5.1.7")


def test_mail_without_from_colon(smtpd):
    o = smtpd()
    c = ehlo(o)
    c.send_line("MAIL <a@example.org>")
    expect_reply(c, 501, "5.5.4")
    c.send_line("MAIL TO:<a@example.org>")
    expect_reply(c, 501, "5.5.4")
    quit_(c)
    assert_nothing_queued(o)


def test_local_part_over_64_octets(smtpd):
    o = smtpd()
    refused(o, "<%s@example.org>" % ("a" * 65), 501, "5.1.7")
    o2 = smtpd()
    shown = one_message(o2, "<%s@example.org>" % ("a" * 64),
                        ["<b@example.net>"])
    assert shown.get("sender") == "<%s@example.org>" % ("a" * 64)


def test_space_after_colon_accepted_by_default(smtpd):
    o = smtpd()
    shown = one_message(o, " <a@example.org>", [" <b@example.net>"])
    assert shown.get("sender") == "<a@example.org>"
    assert shown.recipients == ["<b@example.net>"]


def test_space_after_colon_refused_when_strict(smtpd):
    o = smtpd({"strict_rfc821_envelopes": "yes"})
    refused(o, " <a@example.org>", 501, "5.5.4")


def test_addresses_beginning_with_a_dash(smtpd):
    """allow_min_user = no (the default): an address that begins with
    '-' would look like an option to a command that gets it (a pipe
    service, sendmail); refused as bad syntax.  With yes it is mail
    like any other."""
    o = smtpd()
    r = refused(o, "<-oQ/tmp@example.org>", 501, "5.1.7")
    assert r.raw[-1] == ("501 5.1.7 Bad sender address syntax: an "
                         "address must not begin with '-'")
    r = refused(o, "<a@example.org>", 501, "5.1.3",
                rcpt_args="<-d@example.net>")
    assert r.raw[-1] == ("501 5.1.3 Bad recipient address syntax: an "
                         "address must not begin with '-'")
    # Inside the local part it is an ordinary character.
    shown = one_message(o, "<a-b@example.org>", ["<x-y@example.net>"])
    assert shown.get("sender") == "<a-b@example.org>"


def test_allow_min_user(smtpd):
    o = smtpd({"allow_min_user": "yes"})
    shown = one_message(o, "<-a@example.org>", ["<-b@example.net>"])
    assert shown.get("sender") == "<-a@example.org>"
