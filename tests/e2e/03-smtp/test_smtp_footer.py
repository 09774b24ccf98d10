# SPDX-License-Identifier: MIT
"""smtpd_reject_footer: text added after every 4xx and 5xx reply.

- a footer line carries the reply's code and enhanced status code, and
  the reply's own line becomes a continuation ("502-5.5.2 ...");
- "\\n" starts another footer line, "\\c" at the start puts the first
  footer text on the reply's own line;
- $client_address, $client_name, $helo_name, $server_name and main.cf
  parameters are expanded per session; an unknown name is empty;
- 2xx and 3xx replies never get it; a reply held back by
  smtpd_error_sleep_time gets it too; under soft_bounce the footer lines
  carry the 4xx code the client gets;
- a template with a syntax error stops the configuration check.
"""

import re

from smtp_e2e import ehlo, expect_reply, quit_

FOOTER = ("For help write to postmaster@$mydomain quoting $client_address "
          "and ${helo_name}, server $server_name.<$nosuchname>")


def test_footer_line_after_errors_only(smtpd):
    o = smtpd({"smtpd_reject_footer": FOOTER, "mydomain": "test.example"})
    c = ehlo(o, "helo.example")
    c.send_line("FROB")
    r = expect_reply(c, 502, "5.5.2")
    assert r.raw == [
        "502-5.5.2 Error: command not recognized",
        "502 5.5.2 For help write to postmaster@test.example quoting "
        "127.0.0.1 and helo.example, server test.example.<>"], r
    # No footer on success replies.
    c.send_line("MAIL FROM:<a@example.org>")
    r = expect_reply(c, 250, "2.1.0")
    assert len(r.raw) == 1, r
    c.send_line("NOOP")
    assert len(expect_reply(c, 250).raw) == 1
    quit_(c)


def test_footer_joined_and_several_lines(smtpd):
    o = smtpd({"smtpd_reject_footer":
               r"\c (client $client_address)\nsecond\nthird"})
    c = ehlo(o)
    c.send_line("RCPT TO:<x@example.net>")      # no MAIL yet
    r = expect_reply(c, 503, "5.5.1")
    assert len(r.raw) == 3, r
    assert re.fullmatch(r"503-5\.5\.1 .+ \(client 127\.0\.0\.1\)",
                        r.raw[0]), r
    assert r.raw[1:] == ["503-5.5.1 second", "503 5.5.1 third"], r
    quit_(c)


def test_footer_on_a_delayed_reply_and_under_soft_bounce(smtpd):
    o = smtpd({"smtpd_reject_footer": "Call us",
               "smtpd_soft_error_limit": "1",
               "smtpd_error_sleep_time": "1s",
               "soft_bounce": "yes"})
    c = ehlo(o)
    c.send_line("FROB")
    expect_reply(c, 402, "4.5.2")
    c.send_line("FROB")         # past the soft limit: held back 1 s
    r = expect_reply(c, 402, "4.5.2", timeout=10)
    assert r.raw == ["402-4.5.2 Error: command not recognized",
                     "402 4.5.2 Call us"], r
    quit_(c)


def test_bad_footer_is_refused_by_the_configuration_check(ostia_factory):
    o = ostia_factory(main_cf={"smtpd_reject_footer":
                               "Call ${client_address"})
    r = o.cli("check")
    assert r.returncode == 2, r.stderr
    assert re.search(r"smtpd_reject_footer: missing '}'", r.stderr), \
        r.stderr
