# SPDX-License-Identifier: MIT
"""postscreen: a Postfix master.cf whose port 25 runs postscreen works
as written, and its tests run before the greeting.

- A clean client gets the teaser "220-..." and, after
  postscreen_greet_wait, the greeting "220 ..." (one multi-line reply);
  it is remembered (PASS NEW), and its next connection passes at once,
  with a plain greeting (PASS OLD).
- The pass service's -o settings are the ones its smtpd uses.
- A client that talks before the greeting (PREGREET): enforce refuses
  its recipients with 550, drop answers 521 and closes.  It is not
  remembered.
- DNSBL sites with reply filters and weights, an allow list with a
  negative weight; the threshold; enforce, drop, the reply map; a
  (negative) allowlist threshold ends the wait at once.
- postscreen_access_list: permit_mynetworks and a cidr: table (permit
  skips the tests, reject applies postscreen_denylist_action).
- Failing closed: a DNSBL that does not answer gives a temporary
  failure where its weight could have reached the threshold; an access
  table that fails gives 421 before any greeting.

The zones and addresses are described in postscreen_e2e.py.
"""

import os
import re

from postscreen_e2e import (RCPT, SITES, SMTPD, dial, greeting,
                            lines_until_close, mail_rcpt, start, who)

import dns_server
import ostia_harness


def test_clean_client_passes_and_is_remembered(ostia_factory, dns):
    o = start(ostia_factory, dns.resolvers, postscreen_access_list="")
    port = o.ports["smtp"]
    with dial(o, "127.0.0.4") as c:
        code, lines = greeting(c)
        assert code == 220 and len(lines) == 2, lines
        assert lines == ["test.example ESMTP Ostia"] * 2, lines
        # The pass service's -o smtpd_helo_required = yes.
        c.command("MAIL FROM:<a@client.test>", expect=503)
        r = mail_rcpt(c)
        assert r.code == 250, r
        c.command("QUIT", expect=221)
    o.wait_for_log(SMTPD + r"CONNECT from %s to \[127\.0\.0\.1\]:%d$"
                   % (who("127.0.0.4"), port))
    o.wait_for_log(SMTPD + r"PASS NEW %s$" % who("127.0.0.4"))
    # Once through, then again: no teaser, no wait.
    with dial(o, "127.0.0.4") as c:
        code, lines = greeting(c)
        assert code == 220 and len(lines) == 1, lines
        c.command("QUIT", expect=221)
    o.wait_for_log(SMTPD + r"PASS OLD %s$" % who("127.0.0.4"))
    # The listener is postscreen's service; no warning about the pass,
    # dnsblog and tlsproxy lines.
    text = o.log_text()
    assert "not started" not in text and "not implemented" not in text, \
        text[-3000:]
    assert re.search(r"connect from unknown\[127\.0\.0\.4\]", text)


def test_pregreet_enforce(ostia_factory, dns):
    o = start(ostia_factory, dns.resolvers, postscreen_access_list="",
              postscreen_greet_action="enforce")
    with dial(o, "127.0.0.4", early=b"EHLO early.test\r\n") as c:
        code, lines = greeting(c)
        assert code == 220 and len(lines) == 2, lines
        c.expect(250)           # the EHLO it sent too early
        c.command("MAIL FROM:<sender@client.test>", expect=250)
        r = c.command("RCPT TO:<%s>" % RCPT)
        assert (r.code, r.text) == (550, "5.5.1 Protocol error"), r
        c.command("QUIT", expect=221)
    o.wait_for_log(SMTPD + r"PREGREET 17 after \d+\.\d from %s: "
                   r"EHLO early\.test\\015\\012; it talked before the "
                   r"greeting, as spam bots do; postscreen_greet_action "
                   r"is enforce$" % who("127.0.0.4"))
    o.wait_for_log(SMTPD + r"NOQUEUE: reject: RCPT from unknown"
                   r"\[127\.0\.0\.4\]: 550 5\.5\.1 Protocol error; "
                   r"from=<sender@client\.test> to=<rcpt@example\.net>")
    # Not remembered: the next connection is tested again.
    with dial(o, "127.0.0.4") as c:
        code, lines = greeting(c)
        assert len(lines) == 2, lines
        assert mail_rcpt(c).code == 250
    o.wait_for_log(SMTPD + r"PASS NEW %s$" % who("127.0.0.4"))
    assert "PASS OLD" not in o.log_text()


def test_pregreet_drop(ostia_factory, dns):
    """drop: at once, not at the end of the (here 60 s) greet wait; the
    client's timeout is 20 s."""
    o = start(ostia_factory, dns.resolvers, postscreen_access_list="",
              postscreen_greet_action="drop", postscreen_greet_wait="60s")
    with dial(o, "127.0.0.4", early=b"HELO x\r\n") as c:
        got = lines_until_close(c)
    assert got == ["220-test.example ESMTP Ostia",
                   "521 5.5.1 Protocol error"], got
    o.wait_for_log(SMTPD + r"PREGREET 8 after")
    assert "PASS NEW" not in o.log_text()


def test_dnsbl_weights_and_enforce(ostia_factory, dns):
    o = start(ostia_factory, dns.resolvers, postscreen_access_list="",
              postscreen_dnsbl_sites=SITES, postscreen_dnsbl_threshold=3,
              postscreen_dnsbl_action="enforce")
    # 127.0.0.3: 2 + 3 = 5, listed.
    with dial(o, "127.0.0.3") as c:
        greeting(c)
        r = mail_rcpt(c)
        assert (r.code, r.text) == (550, "5.7.1 Service unavailable; "
                                    "client [127.0.0.3] blocked using "
                                    "heavy.test"), r
    o.wait_for_log(SMTPD + r"DNSBL rank 5 for %s \(listed by dnsbl\.test "
                   r"\(\+2\), heavy\.test \(\+3\)\); "
                   r"postscreen_dnsbl_threshold is 3, "
                   r"postscreen_dnsbl_action is enforce$"
                   % who("127.0.0.3"))
    # 127.0.0.2: 2 (below 3); 127.0.0.5: 2 + 3 - 5 = 0; 127.0.0.6: the
    # heavy.test reply is outside its filter, and the allow list -5.
    for source in ("127.0.0.2", "127.0.0.5", "127.0.0.6", "127.0.0.4"):
        with dial(o, source) as c:
            greeting(c)
            r = mail_rcpt(c)
            assert r.code == 250, (source, r)
        o.wait_for_log(SMTPD + r"PASS NEW %s$" % who(source))
    assert o.log_text().count("DNSBL rank") == 1


def test_dnsbl_drop_with_reply_map(ostia_factory, dns):
    o = start(ostia_factory, dns.resolvers, postscreen_access_list="",
              postscreen_dnsbl_sites=SITES, postscreen_dnsbl_threshold=3,
              postscreen_dnsbl_action="drop",
              postscreen_dnsbl_reply_map="inline:{{heavy.test = a list}}")
    with dial(o, "127.0.0.3") as c:
        got = lines_until_close(c)
    assert got == ["220-test.example ESMTP Ostia",
                   "521 5.7.1 Service unavailable; client [127.0.0.3] "
                   "blocked using a list"], got
    o.wait_for_log(SMTPD + r"DNSBL rank 5 for %s" % who("127.0.0.3"))


def test_allowlist_threshold_ends_the_wait(ostia_factory, dns):
    """A client whose score is at or below a negative
    postscreen_dnsbl_allowlist_threshold does not wait the (here 60 s)
    greet wait: its greeting comes once the DNSBLs have answered."""
    o = start(ostia_factory, dns.resolvers, postscreen_access_list="",
              postscreen_dnsbl_sites=SITES, postscreen_greet_wait="60s",
              postscreen_dnsbl_whitelist_threshold=-2)
    with dial(o, "127.0.0.6") as c:
        code, lines = greeting(c)       # the client's timeout is 20 s
        assert code == 220 and len(lines) == 2, lines
        assert mail_rcpt(c).code == 250
    o.wait_for_log(SMTPD + r"postscreen: %s: DNSBL score -5 is at or below "
                   r"postscreen_dnsbl_allowlist_threshold \(-2\): no wait "
                   r"for the greeting$" % who("127.0.0.6"))
    o.wait_for_log(SMTPD + r"PASS NEW %s$" % who("127.0.0.6"))


def test_access_list(ostia_factory, dns):
    tmp = ostia_harness.tempfile.mkdtemp(prefix="ostia-e2e-acl-")
    os.chmod(tmp, 0o755)
    cidr = os.path.join(tmp, "postscreen_access.cidr")
    with open(cidr, "w") as f:
        f.write("127.0.0.7/32 reject\n127.0.0.8 permit\n"
                "127.0.0.9 dunno\n")
    os.chmod(cidr, 0o644)
    o = start(ostia_factory, dns.resolvers,
              postscreen_access_list="permit_mynetworks, cidr:" + cidr,
              postscreen_denylist_action="drop")
    for source, how in (("127.0.0.1", "permit_mynetworks"),
                        ("127.0.0.8", "cidr:" + cidr)):
        with dial(o, source) as c:
            code, lines = greeting(c)
            assert len(lines) == 1, (source, lines)
            assert mail_rcpt(c).code == 250
        o.wait_for_log(SMTPD + r"ALLOWLISTED %s \(%s in "
                       r"postscreen_access_list\)$"
                       % (who(source), re.escape(how)))
    with dial(o, "127.0.0.7") as c:
        got = lines_until_close(c)
    assert got == ["521 5.3.2 test.example Service currently "
                   "unavailable"], got
    o.wait_for_log(SMTPD + r"DENYLISTED %s \(cidr:.* in postscreen_access_"
                   r"list\); postscreen_denylist_action is drop$"
                   % who("127.0.0.7"))
    # dunno: on to the tests.
    with dial(o, "127.0.0.9") as c:
        code, lines = greeting(c)
        assert len(lines) == 2, lines
    o.wait_for_log(SMTPD + r"PASS NEW %s$" % who("127.0.0.9"))
    # The legacy name postscreen_blacklist_action is read too.
    o2 = start(ostia_factory, dns.resolvers,
               postscreen_access_list="cidr:" + cidr,
               postscreen_blacklist_action="enforce")
    with dial(o2, "127.0.0.7") as c:
        code, lines = greeting(c)
        assert len(lines) == 2, lines
        r = mail_rcpt(c)
        assert (r.code, r.text) == (550, "5.3.2 Service currently "
                                    "unavailable"), r


def test_dnsbl_failure_is_a_temporary_failure(ostia_factory):
    """A DNS server that does not answer: the score is unknown, and the
    zone's weight could reach the threshold: 450 with enforce (never
    250), and the client is not remembered.  With ignore the client goes
    on, unremembered."""
    o = start(ostia_factory, dns_server.dead_resolver(),
              postscreen_access_list="", postscreen_dnsbl_sites="dnsbl.test",
              postscreen_dnsbl_action="enforce",
              postscreen_dnsbl_timeout="3s")
    with dial(o, "127.0.0.2") as c:
        greeting(c)
        r = mail_rcpt(c)
        assert (r.code, r.text) == (450, "4.7.1 Service unavailable; "
                                    "client [127.0.0.2] cannot be checked "
                                    "now, try again later"), r
    o.wait_for_log(SMTPD + r"warning: postscreen: %s: DNSBL score unknown: "
                   r"dnsbl\.test \(.+\); the zones that answered give 0, "
                   r"and the ones that did not could reach "
                   r"postscreen_dnsbl_threshold \(1\); postscreen_dnsbl_"
                   r"action is enforce, so the client gets a temporary "
                   r"failure$" % who("127.0.0.2"))
    assert "PASS NEW" not in o.log_text()
    o2 = start(ostia_factory, dns_server.dead_resolver(),
               postscreen_access_list="", postscreen_dnsbl_sites="dnsbl.test",
               postscreen_dnsbl_timeout="3s")
    with dial(o2, "127.0.0.2") as c:
        greeting(c)
        assert mail_rcpt(c).code == 250
    o2.wait_for_log(SMTPD + r"warning: postscreen: .*DNSBL score unknown")
    assert "PASS NEW" not in o2.log_text()


def test_access_table_failure_fails_closed(ostia_factory, dns):
    tmp = ostia_harness.tempfile.mkdtemp(prefix="ostia-e2e-acl-")
    os.chmod(tmp, 0o755)
    dead = ostia_harness.dead_mysql_table(tmp)
    o = start(ostia_factory, dns.resolvers, postscreen_access_list=dead)
    with dial(o, "127.0.0.4") as c:
        got = lines_until_close(c)
    assert got == ["421 4.3.0 test.example Server configuration problem, "
                   "try again later"], got
    o.wait_for_log(SMTPD + r"warning: postscreen: %s: postscreen_access_"
                   r"list table mysql:\S+ failed: .+; the client gets 421 "
                   r"4\.3\.0 \(try again later\)$" % who("127.0.0.4"))


def test_behind_a_load_balancer(ostia_factory, dns):
    """postscreen_upstream_proxy_protocol = haproxy: the PROXY header
    names the client the tests see (and is no PREGREET); a connection
    without one is closed."""
    o = start(ostia_factory, dns.resolvers, postscreen_access_list="",
              postscreen_greet_action="drop",
              postscreen_upstream_proxy_protocol="haproxy")
    with dial(o, "127.0.0.4",
              early=b"PROXY TCP4 198.51.100.7 127.0.0.1 4567 25\r\n") as c:
        code, lines = greeting(c)
        assert code == 220 and len(lines) == 2, lines
        assert mail_rcpt(c).code == 250
    o.wait_for_log(SMTPD + r"CONNECT from \[198\.51\.100\.7\]:4567 to "
                   r"\[127\.0\.0\.1\]:25$")
    o.wait_for_log(SMTPD + r"PASS NEW \[198\.51\.100\.7\]:4567$")
    assert "PREGREET" not in o.log_text()
    with dial(o, "127.0.0.4", early=b"EHLO direct.test\r\n") as c:
        assert lines_until_close(c) == []
    o.wait_for_log(SMTPD + r"warning: .*: no valid PROXY protocol header "
                   r"from 127\.0\.0\.4: .*postscreen_upstream_proxy_"
                   r"protocol = haproxy")


def test_cache_kept_across_a_restart(ostia_factory, dns):
    """postscreen_cache_map (default lmdb:$data_directory/postscreen_
    cache): a client that passed passes at once after a restart.  A type
    that cannot hold it is named in a warning, and the cache is kept in
    memory instead."""
    o = start(ostia_factory, dns.resolvers, postscreen_access_list="")
    with dial(o, "127.0.0.4") as c:
        assert len(greeting(c)[1]) == 2
        c.command("QUIT", expect=221)
    o.wait_for_log(SMTPD + r"PASS NEW %s$" % who("127.0.0.4"))
    assert os.path.exists(os.path.join(o.tmpdir, "data",
                                       "postscreen_cache.lmdb"))
    o.stop()
    o.start_foreground()
    with dial(o, "127.0.0.4") as c:
        assert len(greeting(c)[1]) == 1
        c.command("QUIT", expect=221)
    o.wait_for_log(SMTPD + r"PASS OLD %s$" % who("127.0.0.4"))

    o2 = start(ostia_factory, dns.resolvers, postscreen_access_list="",
               postscreen_cache_map="memcache:/etc/ostia/nowhere.cf")
    o2.wait_for_log(SMTPD + r"warning: postscreen_cache_map: memcache:/etc/"
                    r"ostia/nowhere\.cf: a memcache table cannot hold the "
                    r"cache here \(use lmdb:, btree: or hash:, which Ostia "
                    r"keeps as an LMDB file\); the clients that pass are "
                    r"remembered in this process's memory instead")
    for want in (2, 1):
        with dial(o2, "127.0.0.4") as c:
            assert len(greeting(c)[1]) == want
            c.command("QUIT", expect=221)
    o2.wait_for_log(SMTPD + r"PASS OLD %s$" % who("127.0.0.4"))


def test_dnsbl_error_answers_are_no_listings(ostia_factory, dns):
    """A DNSBL's error code (127.255.255.x) and an answer outside 127/8
    say nothing about the client: the score is unknown, which with
    enforce defers (never 250, never 550), with the reason logged."""
    o = start(ostia_factory, dns.resolvers, postscreen_access_list="",
              postscreen_dnsbl_sites="dnsbl.test",
              postscreen_dnsbl_action="enforce")
    for source in ("127.0.0.10", "127.0.0.11"):
        with dial(o, source) as c:
            greeting(c)
            r = mail_rcpt(c)
            assert r.code == 450, (source, r)
    o.wait_for_log(SMTPD + r"warning: postscreen: %s: DNSBL score unknown: "
                   r"dnsbl\.test \(dnsbl\.test answered 127\.255\.255\.254: "
                   r"it refuses queries that come through a public or "
                   r"shared DNS resolver" % who("127.0.0.10"))
    o.wait_for_log(SMTPD + r"warning: postscreen: %s: DNSBL score unknown: "
                   r"dnsbl\.test \(dnsbl\.test answered 192\.0\.2\.80, which "
                   r"is no DNSBL answer" % who("127.0.0.11"))
    assert "DNSBL rank" not in o.log_text()


def test_tests_after_the_greeting(ostia_factory, dns):
    """postscreen_pipelining_enable, _non_smtp_command_enable and
    _bare_newline_enable: the session itself is watched (no second
    connection is asked for), the fault is logged with Postfix's words,
    and the test's action applies."""
    o = start(ostia_factory, dns.resolvers, postscreen_access_list="",
              postscreen_pipelining_enable="yes",
              postscreen_pipelining_action="enforce",
              postscreen_non_smtp_command_enable="yes",
              postscreen_bare_newline_enable="yes",
              postscreen_bare_newline_action="enforce")
    # Pipelining after HELO (no PIPELINING offered): enforce.
    with dial(o, "127.0.0.4") as c:
        greeting(c)
        c.send_raw(b"HELO x.test\r\nMAIL FROM:<a@client.test>\r\n")
        c.expect(250)
        c.expect(250)
        r = c.command("RCPT TO:<%s>" % RCPT)
        assert (r.code, r.text) == (550, "5.5.1 Protocol error"), r
    o.wait_for_log(SMTPD + r"PIPELINING from %s after HELO; "
                   r"postscreen_pipelining_action is enforce$"
                   % who("127.0.0.4"))
    # An HTTP request: drop (the default action).
    with dial(o, "127.0.0.5") as c:
        greeting(c)
        c.send_raw(b"GET / HTTP/1.1\r\n")
        got = lines_until_close(c)
    assert got == ["521 5.5.1 test.example Protocol error"], got
    o.wait_for_log(SMTPD + r"NON-SMTP COMMAND from %s after CONNECT: "
                   r"GET / HTTP/1\.1; postscreen_non_smtp_command_action "
                   r"is drop$" % who("127.0.0.5"))
    # A bare <LF>: smtpd refuses the line as ever, and enforce refuses
    # the recipients.
    with dial(o, "127.0.0.6") as c:
        greeting(c)
        c.send_raw(b"EHLO x.test\nNOOP\r\n")   # one line to smtpd
        c.expect(500)
        c.command("EHLO x.test", expect=250)
        c.command("MAIL FROM:<a@client.test>", expect=250)
        r = c.command("RCPT TO:<%s>" % RCPT)
        assert (r.code, r.text) == (550, "5.5.1 Protocol error"), r
    o.wait_for_log(SMTPD + r"BARE NEWLINE from %s after CONNECT; "
                   r"postscreen_bare_newline_action is enforce$"
                   % who("127.0.0.6"))
    # A client that keeps to the protocol is not bothered.
    with dial(o, "127.0.0.7") as c:
        greeting(c)
        assert mail_rcpt(c).code == 250
