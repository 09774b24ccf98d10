# SPDX-License-Identifier: MIT
"""XCLIENT and XFORWARD: a trusted client speaking for another one.

- Neither is offered, nor obeyed, unless smtpd_authorized_xclient_hosts /
  smtpd_authorized_xforward_hosts name the (real) client: 550 5.7.0 and a
  log line naming the parameter.
- XCLIENT (a proxy): after the new 220 greeting the session is the named
  client's everywhere: the access policy (relaying), the "client=" log
  line, the queue file and the Received: header; LOGIN= makes it
  authenticated (permit_sasl_authenticated), and a later XCLIENT without
  LOGIN takes that away.  Not allowed in a transaction; bad attributes
  get 501 5.5.4 naming the attribute; nothing is queued after either.
- XFORWARD (a content filter re-injecting mail): the facts go into the
  queue file and the log (orig_queue_id, orig_client) for the next
  message only, while access control and the Received: header keep the
  real connection.
- swaks (a real client) drives XCLIENT too.
(Postfix's smtp client sending XFORWARD to Ostia: 20-outbound,
test_postfix_interop.py.)
"""

import os
import re
import shutil
import subprocess

import pytest

from ostia_harness import free_port
from smtp_e2e import (CLIENT, SIMPLE, SMTPD, assert_nothing_queued, ehlo,
                      expect_reply, queue_show, queued_ids, quit_,
                      send_message, start_mail)

XCLIENT_OK = {"smtpd_authorized_xclient_hosts": "127.0.0.0/8",
              "mynetworks": "127.0.0.0/8 203.0.113.0/24"}
XFORWARD_OK = {"smtpd_authorized_xforward_hosts": "127.0.0.0/8",
               "mynetworks": "127.0.0.0/8"}


def ehlo_keywords(c, name="client.example"):
    c.send_line("EHLO " + name)
    r = expect_reply(c, 250)
    return {ln.split(" ", 1)[0].upper(): ln for ln in r.lines[1:]}


def received(shown):
    head, _ = shown.header_and_body()
    m = re.match(rb"Received: [^\r\n]*(?:\r\n[ \t][^\r\n]*)*", head)
    assert m, head[:300]
    return m.group(0).decode()


def test_not_offered_nor_obeyed_by_default(smtpd):
    o = smtpd()
    c = ehlo(o)
    c.send_line("RSET")
    expect_reply(c, 250)
    kw = ehlo_keywords(c)
    assert "XCLIENT" not in kw and "XFORWARD" not in kw, kw
    c.send_line("XCLIENT ADDR=198.51.100.9")
    expect_reply(c, 550, "5.7.0", text="insufficient authorization")
    c.send_line("XFORWARD ADDR=198.51.100.9")
    expect_reply(c, 550, "5.7.0", text="insufficient authorization")
    # The session is still the real client's.
    send_message(c, SIMPLE)
    quit_(c)
    o.wait_for_log(r"warning: XCLIENT from %s refused: the client is not "
                   r"in smtpd_authorized_xclient_hosts" % CLIENT)
    o.wait_for_log(r"warning: XFORWARD from %s refused: the client is not "
                   r"in smtpd_authorized_xforward_hosts" % CLIENT)
    o.wait_for_log(SMTPD + r"disconnect from %s .*xclient=0/1 "
                   r"xforward=0/1 " % CLIENT)


def test_xclient_makes_the_session_the_named_clients(smtpd):
    o = smtpd(XCLIENT_OK)
    c = ehlo(o)
    c.send_line("RSET")
    expect_reply(c, 250)
    kw = ehlo_keywords(c)
    assert kw.get("XCLIENT", "").split()[1:] == [
        "NAME", "REVERSE_NAME", "ADDR", "PORT", "PROTO", "HELO", "LOGIN",
        "DESTADDR", "DESTPORT"], kw
    assert "XFORWARD" not in kw, kw
    # A client outside mynetworks may not relay...
    c.send_line("XCLIENT NAME=spam.example ADDR=198.51.100.9 PORT=40000")
    expect_reply(c, 220, text=r"^test\.example ESMTP")
    c.send_line("EHLO spam.example")
    expect_reply(c, 250)
    c.send_line("MAIL FROM:<sender@example.org>")
    expect_reply(c, 250, "2.1.0")
    c.send_line("RCPT TO:<rcpt@example.net>")
    expect_reply(c, 454, "4.7.1", text="Relay access denied")
    c.send_line("RSET")
    expect_reply(c, 250)
    o.wait_for_log(r"NOQUEUE: reject: RCPT from spam\.example"
                   r"\[198\.51\.100\.9\]: 454 4\.7\.1")
    # ... and XCLIENT again (still allowed: the real client is judged)
    # makes it one inside.
    c.send_line("XCLIENT NAME=good.example ADDR=203.0.113.7 "
                "HELO=good-helo.example")
    expect_reply(c, 220)
    c.send_line("EHLO good-helo.example")
    expect_reply(c, 250)
    qid = send_message(c, SIMPLE)
    quit_(c)
    o.wait_for_log(SMTPD + r"XCLIENT from spam\.example\[198\.51\.100\.9\]:"
                   r" the session is now client good\.example"
                   r"\[203\.0\.113\.7\]")
    o.wait_for_log(SMTPD + qid + r": client=good\.example"
                   r"\[203\.0\.113\.7\]$")
    o.wait_for_log(SMTPD + r"disconnect from good\.example\[203\.0\.113\.7\]"
                   r" ehlo=4 xclient=2 mail=2 rcpt=1/2 data=1 rset=2 quit=1")
    shown = queue_show(o, qid)
    assert shown.get("client") == "good.example[203.0.113.7]", shown.env
    assert shown.get("helo") == "good-helo.example", shown.env
    rcv = received(shown)
    assert rcv.startswith("Received: from good-helo.example (good.example "
                          "[203.0.113.7])"), rcv


def test_xclient_login_is_an_authenticated_session(smtpd):
    o = smtpd(dict(XCLIENT_OK, mynetworks="127.0.0.0/8",
                   smtpd_relay_restrictions="permit_sasl_authenticated, "
                   "reject_unauth_destination"))
    c = ehlo(o)
    c.send_line("XCLIENT ADDR=IPV6:2001:DB8::0:7 LOGIN=joe+40example.org")
    expect_reply(c, 220)
    c.send_line("EHLO far.example")
    expect_reply(c, 250)
    qid = send_message(c, SIMPLE)
    # A new XCLIENT without LOGIN: not authenticated any more.
    c.send_line("XCLIENT ADDR=2001:db8::8")
    expect_reply(c, 220)
    c.send_line("EHLO far.example")
    expect_reply(c, 250)
    c.send_line("MAIL FROM:<sender@example.org>")
    expect_reply(c, 250)
    c.send_line("RCPT TO:<rcpt@example.net>")
    expect_reply(c, 554, "5.7.1", text="Relay access denied")
    quit_(c)
    o.wait_for_log(SMTPD + qid + r": client=unknown\[2001:db8::7\], "
                   r"sasl_method=XCLIENT, sasl_username=joe@example\.org")
    assert queue_show(o, qid).get("client") == "unknown[2001:db8::7]"
    assert queued_ids(o) == [qid]


def test_xclient_refusals_leave_nothing(smtpd):
    o = smtpd(XCLIENT_OK)
    c = ehlo(o)
    start_mail(c)
    c.send_line("XCLIENT ADDR=203.0.113.7")
    expect_reply(c, 503, "5.5.1", text="MAIL transaction in progress")
    c.send_line("RSET")
    expect_reply(c, 250)
    for args, attr in (("ADDR=300.1.2.3", "ADDR"),
                       ("FOO=bar", "FOO"),
                       ("IDENT=ABC", "IDENT"),
                       ("NAME=a NAME=b", "NAME"),
                       ("HELO=a+0Db", "HELO"),
                       ("PORT=65536", "PORT")):
        c.send_line("XCLIENT " + args)
        expect_reply(c, 501, "5.5.4",
                     text=r"Bad XCLIENT attribute %s: " % attr)
    c.send_line("XCLIENT")
    expect_reply(c, 501, "5.5.4", text=r"Syntax: XCLIENT attribute=value")
    # The refused commands changed nothing: still the real client.
    c.send_line("NOOP")
    expect_reply(c, 250)
    quit_(c)
    o.wait_for_log(SMTPD + r"disconnect from %s " % CLIENT)
    assert_nothing_queued(o)


def test_xforward_facts_go_to_the_queue_file_for_one_message(smtpd):
    o = smtpd(XFORWARD_OK)
    c = ehlo(o)
    c.send_line("RSET")
    expect_reply(c, 250)
    kw = ehlo_keywords(c, "filter.example")
    assert kw.get("XFORWARD", "").split()[1:] == [
        "NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE"], kw
    assert "XCLIENT" not in kw, kw
    # Two commands add up (a long set takes more than one line).
    c.send_line("XFORWARD NAME=mx.origin.example ADDR=198.51.100.9 "
                "PORT=40000")
    expect_reply(c, 250, "2.0.0")
    c.send_line("XFORWARD PROTO=ESMTPSA HELO=origin-helo.example "
                "IDENT=4Q2X7B1ZKM0A3D9F SOURCE=REMOTE")
    expect_reply(c, 250, "2.0.0")
    # Access control is still the filter's: 198.51.100.9 is outside
    # mynetworks, the filter is inside, and the relay is allowed.
    qid1 = send_message(c, SIMPLE)
    qid2 = send_message(c, SIMPLE)
    quit_(c)
    o.wait_for_log(SMTPD + qid1 + r": client=%s, "
                   r"orig_queue_id=4Q2X7B1ZKM0A3D9F, "
                   r"orig_client=mx\.origin\.example\[198\.51\.100\.9\]$"
                   % CLIENT)
    o.wait_for_log(SMTPD + qid2 + r": client=%s$" % CLIENT)
    s1 = queue_show(o, qid1)
    assert s1.get("client") == "mx.origin.example[198.51.100.9]", s1.env
    assert s1.get("helo") == "origin-helo.example", s1.env
    assert s1.get("protocol") == "ESMTPSA", s1.env
    # The trace header is about this hop's real connection.
    assert received(s1).startswith(
        "Received: from filter.example (unknown [127.0.0.1])"), received(s1)
    # The second message of the session: the facts were forgotten.
    s2 = queue_show(o, qid2)
    assert s2.get("client") == "unknown[127.0.0.1]", s2.env
    assert s2.get("helo") == "filter.example", s2.env
    assert s2.get("protocol") == "ESMTP", s2.env


def test_xforward_unavailable_and_refusals(smtpd):
    o = smtpd(XFORWARD_OK)
    c = ehlo(o)
    c.send_line("XFORWARD NAME=[UNAVAILABLE] ADDR=[UNAVAILABLE]")
    expect_reply(c, 250)
    qid = send_message(c, SIMPLE)
    start_mail(c)
    c.send_line("XFORWARD ADDR=192.0.2.1")
    expect_reply(c, 503, "5.5.1")
    c.send_line("RSET")
    expect_reply(c, 250)
    c.send_line("XFORWARD LOGIN=joe")
    expect_reply(c, 501, "5.5.4", text="Bad XFORWARD attribute LOGIN: "
                 "unknown attribute name")
    c.send_line("XFORWARD SOURCE=ELSEWHERE")
    expect_reply(c, 501, "5.5.4", text="Bad XFORWARD attribute SOURCE")
    quit_(c)
    assert queue_show(o, qid).get("client") == "unknown[unknown]"
    assert queued_ids(o) == [qid]


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks missing")
def test_swaks_xclient(smtpd):
    o = smtpd(XCLIENT_OK)
    r = subprocess.run(
        ["swaks", "--server", "127.0.0.1", "--port", str(o.port),
         "--from", "sender@example.org", "--to", "rcpt@example.net",
         "--helo", "swaks.example", "--xclient-addr", "203.0.113.44",
         "--xclient-name", "proxied.example", "--xclient-login",
         "alice", "--body", "xclient from swaks", "--timeout", "20"],
        capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"250 2\.0\.0 Ok: queued as ([0-9A-Z]{16})", r.stdout)
    assert m, r.stdout
    o.wait_for_log(SMTPD + m.group(1) + r": client=proxied\.example"
                   r"\[203\.0\.113\.44\], sasl_method=XCLIENT, "
                   r"sasl_username=alice")


def test_dovecot_submission_relays_with_xclient(smtpd):
    """Dovecot's submission service (a real proxy) with
    submission_relay_trusted = yes: it logs the user in itself and hands
    the session to Ostia with XCLIENT (address, port, LOGIN); Ostia
    queues the message as the user's authenticated session."""
    dovecot_server = pytest.importorskip("dovecot_server")
    if not any(os.path.exists(os.path.join(d, "submission"))
               for d in ("/usr/lib/dovecot",)):
        pytest.skip("Dovecot's submission service is not installed "
                    "(Debian package dovecot-submissiond)")
    o = smtpd(dict(XCLIENT_OK, mynetworks="192.0.2.0/24"))
    sub_port = free_port()
    extra = "\n".join([
        "hostname = submission.test",
        # Never opened (submission only relays), but it must be set.
        "mail_location = maildir:/nonexistent/Maildir",
        "submission_relay_host = 127.0.0.1",
        "submission_relay_port = %d" % o.port,
        "submission_relay_trusted = yes",
        "submission_relay_ssl = no",
        "service submission-login {",
        "  inet_listener submission {",
        "    address = 127.0.0.1",
        "    port = %d" % sub_port,
        "  }",
        "}",
    ]) + "\n"
    srv = dovecot_server.DovecotAuth.start(
        users={"alice@example.org": "alice secret"},
        protocols="submission", extra_config=extra)
    try:
        import smtplib
        with smtplib.SMTP("127.0.0.1", sub_port, local_hostname="mua.test",
                          timeout=30) as s:
            s.login("alice@example.org", "alice secret")
            s.sendmail("alice@example.org", ["rcpt@example.net"],
                       SIMPLE)
        line = o.wait_for_log(
            SMTPD + r"(\w{16}): client=\S+\[127\.0\.0\.1\], "
            r"sasl_method=XCLIENT, sasl_username=alice@example\.org$")
        o.wait_for_log(SMTPD + r"XCLIENT from %s: the session is now "
                       r"client \S+\[127\.0\.0\.1\] port \d+, SASL login "
                       r"alice@example\.org" % CLIENT)
        qid = line.group(1)
        assert queued_ids(o) == [qid]
        shown = queue_show(o, qid)
        assert shown.recipients == ["<rcpt@example.net>"], shown.env
    finally:
        srv.close()


def relay_as(c, name, addr, code, enhanced, text):
    """XCLIENT NAME ADDR, then one relay attempt answered code."""
    c.send_line("XCLIENT NAME=%s ADDR=%s" % (name, addr))
    expect_reply(c, 220)
    c.send_line("EHLO far.example")
    expect_reply(c, 250)
    c.send_line("MAIL FROM:<sender@example.org>")
    expect_reply(c, 250, "2.1.0")
    c.send_line("RCPT TO:<rcpt@example.net>")
    expect_reply(c, code, enhanced, text=text)
    c.send_line("RSET")
    expect_reply(c, 250)


def test_mynetworks_table_failure_defers(smtpd, tmp_path):
    """A table in mynetworks that fails (here a pcre: pattern that hits
    PCRE2's match limit on the client name XCLIENT gives) makes
    permit_mynetworks answer 451 4.3.0, never "not listed" and a 454,
    and the log names the list, the table and the reason."""
    tables = tmp_path / "tables"
    tables.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(tables, 0o755)
    pcre = tables / "mynetworks.pcre"
    pcre.write_text("/^(a|aa)+$/ trusted\n")
    os.chmod(pcre, 0o644)
    o = smtpd(dict(XCLIENT_OK, mynetworks="127.0.0.0/8 pcre:%s" % pcre))
    c = ehlo(o)
    slow = "a" * 40 + "b.example"
    relay_as(c, slow, "198.51.100.9", 451, "4.3.0",
             "Temporary lookup failure")
    # A name the pattern decides at once: not listed, relay refused.
    relay_as(c, "fast.example", "198.51.100.10", 454, "4.7.1",
             "Relay access denied")
    quit_(c)
    o.wait_for_log(r"warning: %s\[198\.51\.100\.9\]: mynetworks failed: "
                   r"pcre:%s, line 1: matching gave up: match limit "
                   r"exceeded; the command gets a temporary failure" % (
                       re.escape(slow), re.escape(str(pcre))))
