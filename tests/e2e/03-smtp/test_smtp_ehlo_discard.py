# SPDX-License-Identifier: MIT
"""smtpd_discard_ehlo_keyword_address_maps: EHLO keywords a client is
not offered, looked up by its address.  As in Postfix, the table's value
replaces smtpd_discard_ehlo_keywords for that client (it does not add to
it), silent-discard keeps it out of the log, and what is not offered is
not honoured either (parameters refused as unknown, BDAT as a command
not implemented).  XCLIENT changes the address that is looked up; a
table that fails refuses EHLO with a temporary error, never "offer
everything".
"""

import os
import re
import sqlite3

from smtp_e2e import (CLIENT, SMTPD, ehlo, expect_reply, greet, quit_)


def keywords(c, name="client.example"):
    c.send_line("EHLO " + name)
    r = expect_reply(c, 250)
    return [ln.split(" ", 1)[0].upper() for ln in r.lines[1:]]


def table_dir(tmp_path):
    """A directory the lookup process (mail_owner) can read."""
    d = tmp_path / "tables"
    d.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(d, 0o755)
    return d


def cidr(tmp_path, text):
    path = table_dir(tmp_path) / "ehlo.cidr"
    path.write_text(text)
    os.chmod(path, 0o644)
    return "cidr:%s" % path


def test_table_value_replaces_the_list(smtpd, tmp_path):
    o = smtpd({"smtpd_discard_ehlo_keywords": "size",
               "smtpd_discard_ehlo_keyword_address_maps": cidr(
                   tmp_path, "127.0.0.0/8 silent-discard, chunking, dsn\n")})
    mark = len(o.log_text())
    c = greet(o)
    kw = keywords(c)
    # SIZE is back (the list does not apply), CHUNKING and DSN are gone.
    assert "SIZE" in kw and "PIPELINING" in kw, kw
    assert "CHUNKING" not in kw and "DSN" not in kw, kw
    c.send_line("MAIL FROM:<a@example.org> RET=HDRS")
    expect_reply(c, 555, "5.5.4")
    c.send_line("MAIL FROM:<a@example.org> SIZE=100")
    expect_reply(c, 250, "2.1.0")
    c.send_line("RCPT TO:<b@example.net>")
    expect_reply(c, 250, "2.1.5")
    c.send_raw(b"BDAT 3 LAST\r\nabc")
    expect_reply(c, 502, "5.5.1")
    quit_(c)
    o.wait_for_log(SMTPD + r"disconnect from " + CLIENT)
    assert "discarding EHLO keywords" not in o.log_text()[mark:]


def test_client_not_in_the_table_gets_the_list(smtpd, tmp_path):
    o = smtpd({"smtpd_discard_ehlo_keywords": "size",
               "smtpd_discard_ehlo_keyword_address_maps": cidr(
                   tmp_path, "127.0.0.9/32 chunking\n")})
    c = greet(o)
    kw = keywords(c)
    assert "SIZE" not in kw and "CHUNKING" in kw, kw
    quit_(c)
    o.wait_for_log(SMTPD + CLIENT + r": discarding EHLO "
                   r"keywords: SIZE$")


def test_xclient_address_is_looked_up(smtpd, tmp_path):
    o = smtpd({"smtpd_authorized_xclient_hosts": "127.0.0.0/8",
               "smtpd_discard_ehlo_keyword_address_maps": cidr(
                   tmp_path, "192.0.2.0/24 pipelining\n")})
    c = greet(o)
    assert "PIPELINING" in keywords(c)
    c.send_line("XCLIENT ADDR=192.0.2.7 NAME=far.example")
    expect_reply(c, 220)
    kw = keywords(c)
    assert "PIPELINING" not in kw and "CHUNKING" in kw, kw
    quit_(c)
    o.wait_for_log(SMTPD + r"far\.example\[192\.0\.2\.7\]: discarding "
                   r"EHLO keywords: PIPELINING$")


def test_failing_table_refuses_ehlo(smtpd, tmp_path):
    """The table's query fails for this client (SQLite's abs() of the
    smallest integer is an error; the start-up check asks another key):
    EHLO gets 451 4.3.0 and the log says why; HELO, which offers
    nothing, works."""
    d = table_dir(tmp_path)
    db = d / "ehlo.db"
    sqlite3.connect(str(db)).close()
    os.chmod(db, 0o644)
    cf = d / "ehlo-sqlite.cf"
    cf.write_text("dbpath = %s\nquery = SELECT 'chunking' WHERE abs(CASE "
                  "WHEN '%%s' = '127.0.0.1' THEN -9223372036854775807 - 1 "
                  "ELSE 0 END) > 0\n" % db)
    os.chmod(cf, 0o644)
    o = smtpd({"smtpd_discard_ehlo_keyword_address_maps": "sqlite:%s" % cf})
    c = greet(o)
    c.send_line("EHLO client.example")
    expect_reply(c, 451, "4.3.0")
    c.send_line("HELO client.example")
    expect_reply(c, 250)
    quit_(c)
    o.wait_for_log(r"warning: " + CLIENT + r": "
                   r"smtpd_discard_ehlo_keyword_address_maps: lookup of "
                   r"127\.0\.0\.1 failed: .*integer overflow.*; EHLO gets "
                   r"a temporary failure")
