# SPDX-License-Identifier: MIT
"""Routing by DNS: MX preference, the next MX after a temporary failure
(421 greeting), unreachable MX hosts, null MX
(RFC 7505), names that do not exist, a DNS server that does not answer,
the A/AAAA fallback without MX, and [host]:port next hops that need no
DNS at all.

Every MX host listens (or not) on A's smtp_tcp_port at its own loopback
address: mx1.remote.test 127.0.0.2, mx2 127.0.0.3, mx3 127.0.0.4.  A
connection to an address where nothing listens is refused at once.

Postfix semantics kept: a DNS error is temporary (deferred, never
bounced); a name that does not exist, or a domain that says it takes no
mail, bounces at once.
"""

import re

import pytest

from delivery_e2e import (PROC, QUEUE_ID, SENDER, check_dsn_structure,
                          token)
from outbound_e2e import (REMOTE, b_receiver, message_for, mx_zone,
                          relay_re)

BOB = "bob@" + REMOTE


def sender(mta, srv, port, **params):
    a = mta("a.ostia.test").use_dns(srv, port)
    a.params.update(params)
    return a.start()


def test_lowest_preference_first(mta, peer, dns, port):
    """Both MX hosts answer: the one with the lower preference value
    gets the message, the other is never contacted."""
    first = peer(host="127.0.0.3", port=port, name="mx2.remote.test")
    second = peer(host="127.0.0.2", port=port, name="mx1.remote.test")
    srv = dns({REMOTE: mx_zone(mxs=(("mx1", 20), ("mx2", 10)))})
    a = sender(mta, srv, port)
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    first.wait(lambda p: p.delivered(BOB) == 1, "delivery to the "
               "preference-10 host", diag=a.diag)
    a.wait_sent(BOB, "mx2.remote.test", "127.0.0.3", port)
    a.wait_queue_empty()
    assert second.connections == 0, \
        "the preference-20 host was contacted:\n" + second.describe()


def test_dead_first_mx_then_next(mta, ostia_factory, dns, port):
    """mx1 (preference 10) refuses connections: the message goes to
    mx2 (preference 20), an Ostia."""
    srv = dns({REMOTE: mx_zone(mxs=(("mx1", 10), ("mx2", 20)))})
    b = b_receiver(ostia_factory, hostname="mx2.remote.test")
    b.listen("127.0.0.3", port).start()
    a = sender(mta, srv, port)
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    b.wait_messages(BOB, 1, tok)
    a.wait_sent(BOB, "mx2.remote.test", "127.0.0.3", port)
    a.wait_queue_empty()
    assert len(b.messages(BOB)) == 1
    assert not a.messages(SENDER), "no notice expected:\n" + a.diag()


def test_temporary_failure_tries_next_mx(mta, peer, dns, port):
    """mx1 answers the connection with 421 (busy): the agent moves on to
    mx2 and delivers there, in the same attempt."""
    busy = peer(host="127.0.0.2", port=port, name="mx1.remote.test")
    busy.rule("greeting", "421 4.3.2 mx1.remote.test busy, try later")
    good = peer(host="127.0.0.3", port=port, name="mx2.remote.test")
    srv = dns({REMOTE: mx_zone(mxs=(("mx1", 10), ("mx2", 20)))})
    a = sender(mta, srv, port)
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    good.wait(lambda p: p.delivered(BOB) == 1, "delivery through mx2",
              diag=a.diag)
    a.wait_sent(BOB, "mx2.remote.test", "127.0.0.3", port)
    a.wait_queue_empty()
    assert busy.connections >= 1, "mx1 was never tried"
    assert not busy.transactions, busy.describe()
    a.assert_no_status(BOB, "deferred")


def test_all_mx_dead_deferred(mta, dns, port):
    """No MX host answers: deferred with the connection error, the
    message stays in A's deferred queue, nobody is told yet."""
    srv = dns({REMOTE: mx_zone(mxs=(("mx1", 10), ("mx2", 20)))})
    a = sender(mta, srv, port)
    tok = token()
    qid = a.send(BOB, message_for(tok, BOB))
    line = a.wait_status(BOB, "deferred").group(0)
    assert re.search(r"connection refused", line, re.I), \
        "the deferral should give the connect error: %r" % line
    assert re.search(r"mx[12]\.remote\.test\[127\.0\.0\.[23]\]", line), \
        "the deferral should name the host: %r" % line
    e = a.wait_deferred_in_queue(qid, r"refused")
    assert e.rcpts == [BOB], e
    a.wait_in_queue_dir(qid, "deferred")
    assert not a.messages(SENDER), "no notice expected:\n" + a.diag()
    a.assert_no_status(BOB, "bounced")
    a.assert_no_status(BOB, "sent")


def test_null_mx_bounces_at_once(mta, dns, port):
    """remote.test. MX 0 . : the domain takes no mail; bounced 5.1.10
    without any connection attempt or retry."""
    srv = dns({REMOTE: ["%s. 300 IN MX 0 ." % REMOTE,
                        "%s. 300 IN A 127.0.0.2" % REMOTE]})
    a = sender(mta, srv, port)
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    line = a.wait_status(BOB, "bounced").group(0)
    assert "5.1.10" in line or re.search(r"null MX", line, re.I), line
    dsn = a.wait_dsn(SENDER, tok)
    check_dsn_structure(dsn)
    r = dsn.recipient(BOB)
    assert r.get("action") == "failed", dsn.describe()
    assert r.get("status") == "5.1.10", dsn.describe()
    a.wait_queue_empty()
    a.assert_no_status(BOB, "deferred")


def test_nxdomain_bounces(mta, dns, port):
    """A recipient domain that does not exist bounces (5.x.x), with
    words saying the name was not found."""
    srv = dns({REMOTE: mx_zone()})
    a = sender(mta, srv, port)
    tok = token()
    rcpt = "bob@nosuch." + REMOTE
    a.send(rcpt, message_for(tok, rcpt))
    line = a.wait_status(rcpt, "bounced").group(0)
    assert re.search(r"not found|does not exist|no such domain|nxdomain",
                     line, re.I), line
    assert "nosuch.remote.test" in line, line
    dsn = a.wait_dsn(SENDER, tok)
    r = dsn.recipient(rcpt)
    assert r.get("action") == "failed", dsn.describe()
    assert r.get("status", "").startswith("5."), dsn.describe()
    a.wait_queue_empty()
    a.assert_no_status(rcpt, "deferred")


def _never_bounced(a, rcpt, qid, tok):
    line = a.wait_status(rcpt, "deferred", timeout=90).group(0)
    # Retried at least once more (retry times are 1-2 s), still not
    # bounced.
    mark = a.o.log_mark()
    a.wait_status(rcpt, "deferred", start=mark, timeout=90)
    assert a.spool_has(qid), a.diag()
    a.assert_no_status(rcpt, "bounced")
    assert not any(tok.encode() in open(p, "rb").read()
                   for p in a.messages(SENDER)), \
        "a DNS failure must not bounce:\n" + a.diag()
    return line


def test_dns_server_dead_defers(mta, dns, port):
    """The DNS server does not answer: temporary, never "not found"."""
    import dns_server
    a = mta("a.ostia.test")
    a.params.update({"dns_resolvers": dns_server.dead_resolver(),
                     "smtp_tcp_port": str(port)})
    a.start()
    tok = token()
    qid = a.send(BOB, message_for(tok, BOB))
    line = _never_bounced(a, BOB, qid, tok)
    assert REMOTE in line, "the deferral should name the domain: %r" % line


def test_dns_servfail_defers(mta, dns, port):
    """The zone's answers fail DNSSEC validation (SERVFAIL/bogus):
    temporary, never bounced."""
    zone = mx_zone()
    srv = dns({}, signed_zones={REMOTE: zone}, broken_zones=(REMOTE,))
    a = sender(mta, srv, port)
    tok = token()
    qid = a.send(BOB, message_for(tok, BOB))
    _never_bounced(a, BOB, qid, tok)


def test_a_record_fallback_without_mx(mta, ostia_factory, dns, port):
    """No MX record: the domain's own A record is the mail host."""
    srv = dns({REMOTE: ["%s. 300 IN A 127.0.0.2" % REMOTE,
                        "www.%s. 300 IN A 127.0.0.9" % REMOTE]})
    b = b_receiver(ostia_factory).listen("127.0.0.2", port).start()
    a = sender(mta, srv, port)
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    b.wait_messages(BOB, 1, tok)
    a.wait_sent(BOB, REMOTE, "127.0.0.2", port)
    a.wait_queue_empty()


def test_aaaa_fallback_with_ipv6(mta, ostia_factory, peer, dns, port):
    """No MX, only an AAAA record (::1): with inet_protocols = all the
    agent connects over IPv6."""
    try:
        p = peer(host="::1", port=port, name=REMOTE)
    except OSError as e:
        pytest.skip("cannot listen on [::1]:%d: %s" % (port, e))
    srv = dns({REMOTE: ["%s. 300 IN AAAA ::1" % REMOTE]})
    a = mta("a.ostia.test").use_dns(srv, port)
    a.params["inet_protocols"] = "all"
    a.start()
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    p.wait(lambda s: s.delivered(BOB) == 1, "delivery over IPv6",
           diag=a.diag)
    a.wait_sent(BOB, REMOTE, "::1", port)
    a.wait_queue_empty()


def test_inet_protocols_ipv4_skips_aaaa(mta, peer, dns, port):
    """mx1 has an AAAA (::1) and an A record (127.0.0.2); with
    inet_protocols = ipv4 only the IPv4 address is used."""
    try:
        p6 = peer(host="::1", port=port, name="mx1.remote.test")
    except OSError as e:
        pytest.skip("cannot listen on [::1]:%d: %s" % (port, e))
    p4 = peer(host="127.0.0.2", port=port, name="mx1.remote.test")
    srv = dns({REMOTE: mx_zone() + ["mx1.%s. 300 IN AAAA ::1" % REMOTE]})
    a = sender(mta, srv, port)      # inet_protocols = ipv4
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    p4.wait(lambda s: s.delivered(BOB) == 1, "delivery over IPv4",
            diag=a.diag)
    a.wait_queue_empty()
    assert p6.connections == 0, "IPv6 used with inet_protocols = ipv4"


def test_bracketed_nexthop_without_dns(mta, ostia_factory, dns, port):
    """transport_maps: remote.test -> smtp:[127.0.0.2]:PORT.  No MX or A
    lookup: the DNS server says remote.test does not exist (a lookup
    would bounce the message)."""
    b = b_receiver(ostia_factory).listen("127.0.0.2", port).start()
    a = mta("a.ostia.test")
    a.params["dns_resolvers"] = dns({}).resolvers
    a.route(REMOTE, "smtp:[127.0.0.2]:%d" % port)
    a.start()
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    b.wait_messages(BOB, 1, tok)
    # Postfix's form for an address next hop: relay=IP[IP]:PORT.
    line = a.wait_sent(BOB, "127.0.0.2", "127.0.0.2", port).group(0)
    assert re.search(relay_re("127.0.0.2", "127.0.0.2", port, strict=True),
                     line), \
        "Postfix logs an address next hop as relay=IP[IP]:PORT: %r" % line
    a.wait_queue_empty()
    assert not re.search(PROC + QUEUE_ID + r": to=<%s>.*status=deferred"
                         % re.escape(BOB), a.o.log_text()), a.diag()



def fallback_pair(mta, ostia_factory, srv, port, mailboxes=(BOB,),
                  **params):
    """A sender with params (its fallback relays) and, at 127.0.0.5, an
    Ostia with mailboxes that is its working fallback relay."""
    b = b_receiver(ostia_factory, hostname="fallback.remote.test",
                   mailboxes=mailboxes)
    b.listen("127.0.0.5", port).start()
    return sender(mta, srv, port, **params), b


def test_fallback_relay_when_no_mx_answers(mta, ostia_factory, dns, port):
    """smtp_fallback_relay = [127.0.0.5]:PORT (an Ostia): every MX host
    refuses the connection, so the message goes to the fallback relay in
    the same attempt, and the log says why it fell back."""
    srv = dns({REMOTE: mx_zone(mxs=(("mx1", 10), ("mx2", 20)))})
    a, b = fallback_pair(mta, ostia_factory, srv, port,
                         smtp_fallback_relay="[127.0.0.5]:%d" % port)
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    b.wait_messages(BOB, 1, tok)
    a.wait_sent(BOB, "127.0.0.5", "127.0.0.5", port)
    a.wait_log(r"trying the fallback relay \[127\.0\.0\.5\]:%d "
               r"\(smtp_fallback_relay\)" % port)
    a.wait_queue_empty()
    assert not a.messages(SENDER), "no notice expected:\n" + a.diag()


def test_fallback_relay_for_a_domain_not_found(mta, ostia_factory, dns,
                                               port):
    """A recipient domain that does not exist goes to the fallback
    relays, the legacy name fallback_relay works, and the first relay
    that is dead is skipped for the next one; a null MX is not relayed
    (the domain says it takes no mail)."""
    srv = dns({REMOTE: mx_zone(),
               "nomail." + REMOTE: ["nomail.%s. 300 IN MX 0 ." % REMOTE]})
    rcpt = "bob@nosuch." + REMOTE
    a, b = fallback_pair(mta, ostia_factory, srv, port,
                         mailboxes=(rcpt, "bob@nomail." + REMOTE),
                         fallback_relay="[127.0.0.6]:%d, [127.0.0.5]:%d"
                         % (port, port))
    tok = token()
    a.send(rcpt, message_for(tok, rcpt))
    b.wait_messages(rcpt, 1, tok)
    a.wait_sent(rcpt, "127.0.0.5", "127.0.0.5", port)
    a.wait_log(r"fallback relay: .*refused.*; trying the fallback relay "
               r"\[127\.0\.0\.5\]:%d" % port)
    tok2 = token()
    nomail = "bob@nomail." + REMOTE
    a.send(nomail, message_for(tok2, nomail))
    line = a.wait_status(nomail, "bounced").group(0)
    assert "5.1.10" in line or re.search(r"null MX", line, re.I), line
    assert not b.messages(nomail)


def test_fallback_relay_not_found_defers(mta, dns, port):
    """Every MX host is dead and the fallback relay's name does not
    exist: deferred (the recipient's domain exists), never bounced."""
    srv = dns({REMOTE: mx_zone()})
    a = sender(mta, srv, port,
               smtp_fallback_relay="[relay.nosuch.%s]:%d" % (REMOTE, port))
    tok = token()
    qid = a.send(BOB, message_for(tok, BOB))
    line = a.wait_status(BOB, "deferred").group(0)
    assert "relay.nosuch.remote.test" in line, line
    assert a.spool_has(qid), a.diag()
    a.assert_no_status(BOB, "bounced")


def test_mx_that_is_myself_bounces_as_a_loop(mta, dns, port):
    """remote.test's MX is this very server (a listener of its own at
    127.0.0.2), but remote.test is not one of its domains: its smtpd
    answers EHLO with its own myhostname, so the agent bounces the mail
    at once (5.4.6 "loops back to myself", as Postfix does) instead of
    sending it round until the hop limit."""
    srv = dns({REMOTE: mx_zone()})
    a = mta("a.ostia.test").use_dns(srv, port)
    a.listen("127.0.0.2", port)
    a.start()
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    line = a.wait_status(BOB, "bounced").group(0)
    assert "loops back to myself" in line and "5.4.6" in line, line
    a.wait_log(r"warning: host mx1\.remote\.test\[127\.0\.0\.2\]:%d "
               r"replied to EHLO with my own hostname a\.ostia\.test"
               % port)
    dsn = a.wait_dsn(SENDER, tok)
    assert dsn.recipient(BOB).get("status") == "5.4.6", dsn.describe()
    a.wait_queue_empty()
    # It never went round: the only message its smtpd took is the
    # test's own (the agent's session ends at EHLO).
    queued = re.findall(r"ostia/smtpd\[\d+\]: \w+: client=", a.o.log_text())
    assert len(queued) == 1, a.diag()


# ------------------------------------------ a deferral is not the last word

CAROL = "carol@" + REMOTE


@pytest.mark.parametrize("stage,reply", [
    ("mail", "451 4.3.0 mx1 queue is full, try later"),
    ("data", "451 4.3.0 mx1 cannot take data now"),
    ("rcpt", "421 4.3.2 mx1 shutting down"),
])
def test_deferral_by_a_server_tries_the_next_mx(mta, peer, dns, port, stage,
                                                reply):
    """mx1 takes the connection but defers the transaction (4xx to MAIL,
    to the recipient or to DATA): the message
    goes to mx2 in the same attempt, as Postfix does, not into the
    deferred queue."""
    busy = peer(host="127.0.0.2", port=port, name="mx1.remote.test")
    busy.rule(stage, reply)
    good = peer(host="127.0.0.3", port=port, name="mx2.remote.test")
    srv = dns({REMOTE: mx_zone(mxs=(("mx1", 10), ("mx2", 20)))})
    a = sender(mta, srv, port)
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    good.wait(lambda p: p.delivered(BOB) == 1, "delivery through mx2",
              diag=a.diag)
    a.wait_sent(BOB, "mx2.remote.test", "127.0.0.3", port)
    a.wait_log(r"mx1\.remote\.test\[127\.0\.0\.2\].*; trying the next "
               r"address")
    a.wait_queue_empty()
    assert busy.delivered(BOB) == 0, busy.describe()
    a.assert_no_status(BOB, "deferred")


def test_recipient_deferred_alone_goes_to_the_next_mx(mta, peer, dns, port):
    """mx1 greylists carol (450 to her RCPT) and takes bob: bob's copy
    stays delivered by mx1, only carol goes on to mx2 -- nobody gets the
    message twice -- and a recipient mx1 refuses for good (550) is
    bounced with mx1's words, never offered to mx2."""
    dave = "dave@" + REMOTE
    busy = peer(host="127.0.0.2", port=port, name="mx1.remote.test")
    busy.rule("rcpt", "450 4.7.1 greylisted, come back later", rcpt=CAROL)
    busy.rule("rcpt", "550 5.1.1 no such user here", rcpt=dave)
    good = peer(host="127.0.0.3", port=port, name="mx2.remote.test")
    srv = dns({REMOTE: mx_zone(mxs=(("mx1", 10), ("mx2", 20)))})
    a = sender(mta, srv, port)
    tok = token()
    a.send([BOB, CAROL, dave], message_for(tok, BOB))
    good.wait(lambda p: p.delivered(CAROL) == 1, "carol through mx2",
              diag=a.diag)
    a.wait_sent(BOB, "mx1.remote.test", "127.0.0.2", port)
    a.wait_sent(CAROL, "mx2.remote.test", "127.0.0.3", port)
    line = a.wait_status(dave, "bounced").group(0)
    assert "5.1.1" in line and "no such user here" in line, line
    a.wait_log(r"host mx1\.remote\.test\[127\.0\.0\.2\]:%d deferred 1 "
               r"recipient, to=<%s> first: 450 4\.7\.1 greylisted"
               % (port, re.escape(CAROL)))
    a.wait_queue_empty()
    assert busy.delivered(BOB) == 1 and busy.delivered(CAROL) == 0, \
        busy.describe()
    assert good.attempts(BOB) == 0 and good.attempts(dave) == 0, \
        good.describe()
    a.assert_no_status(CAROL, "deferred")
    dsn = a.wait_dsn(SENDER, tok)
    assert dsn.recipient(dave).get("status") == "5.1.1", dsn.describe()
    with pytest.raises(AssertionError):
        dsn.recipient(BOB)


def test_mx_session_limit(mta, peer, dns, port):
    """Three MX hosts all defer MAIL: with smtp_mx_session_limit = 2
    (Postfix's default) the third is never contacted; the mail is
    deferred with the last server's words and the log says why no
    further host was tried."""
    peers = [peer(host="127.0.0.%d" % (i + 2), port=port,
                  name="mx%d.remote.test" % (i + 1)) for i in range(3)]
    for p in peers:
        p.rule("mail", "421 4.3.2 %s busy" % p.name)
    srv = dns({REMOTE: mx_zone(mxs=(("mx1", 10), ("mx2", 20),
                                    ("mx3", 30)))})
    a = sender(mta, srv, port)
    tok = token()
    qid = a.send(BOB, message_for(tok, BOB))
    line = a.wait_status(BOB, "deferred").group(0)
    assert "mx2.remote.test busy" in line, line
    a.wait_log(r"2 sessions with the servers of remote\.test "
               r"\(smtp_mx_session_limit = 2\): the 1 address left "
               r"not tried")
    assert peers[0].connections >= 1 and peers[1].connections >= 1, \
        peers[1].describe()
    assert peers[2].connections == 0, peers[2].describe()
    assert a.spool_has(qid), a.diag()


def test_deferral_by_the_last_mx_goes_to_the_fallback_relay(
        mta, ostia_factory, peer, dns, port):
    """The only MX host defers MAIL: the fallback relay (an Ostia) gets
    the message in the same attempt."""
    busy = peer(host="127.0.0.2", port=port, name="mx1.remote.test")
    busy.rule("mail", "451 4.3.0 mx1 queue is full")
    srv = dns({REMOTE: mx_zone()})
    a, b = fallback_pair(mta, ostia_factory, srv, port,
                         smtp_fallback_relay="[127.0.0.5]:%d" % port)
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    b.wait_messages(BOB, 1, tok)
    a.wait_sent(BOB, "127.0.0.5", "127.0.0.5", port)
    a.wait_log(r"451 4\.3\.0 mx1 queue is full.*; trying the fallback "
               r"relay \[127\.0\.0\.5\]:%d" % port)
    a.wait_queue_empty()
    a.assert_no_status(BOB, "deferred")


# ------------------------------------------------- this host in the MX list

def test_best_mx_that_is_this_host_bounces(mta, peer, dns, port):
    """The most preferred MX host of the domain has this host's address
    (127.0.0.1, one of inet_interfaces = all) but the domain is not one
    this host takes: bounced 5.4.6 at once, as Postfix does, without
    trying the less preferred hosts (they would send it back here)."""
    other = peer(host="127.0.0.3", port=port, name="mx2.remote.test")
    srv = dns({REMOTE: mx_zone(mxs=(("mx1", 10), ("mx2", 20)),
                               hosts={"mx1": "127.0.0.1",
                                      "mx2": "127.0.0.3"})})
    a = sender(mta, srv, port)
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    line = a.wait_status(BOB, "bounced").group(0)
    assert "5.4.6" in line and "best MX host" in line, line
    a.wait_log(r"warning: \w{16}: this host is the best MX host of "
               r"remote\.test \(preference 10\)")
    a.wait_queue_empty()
    assert other.connections == 0, other.describe()


def test_backup_mx_that_is_this_host(mta, ostia_factory, peer, dns, port):
    """This host is the second MX host of the domain: only the first is
    tried, and when it defers the mail waits in the queue -- neither the
    less preferred hosts nor the fallback relays get it (Postfix: no
    fallback relays for a domain this host is an MX host of)."""
    first = peer(host="127.0.0.3", port=port, name="mx2.remote.test")
    first.rule("mail", "451 4.3.0 try again later")
    srv = dns({REMOTE: mx_zone(mxs=(("mx2", 10), ("mx1", 20)),
                               hosts={"mx1": "127.0.0.1",
                                      "mx2": "127.0.0.3"})})
    a, b = fallback_pair(mta, ostia_factory, srv, port,
                         smtp_fallback_relay="[127.0.0.5]:%d" % port)
    tok = token()
    qid = a.send(BOB, message_for(tok, BOB))
    line = a.wait_status(BOB, "deferred").group(0)
    assert "451 4.3.0 try again later" in line, line
    a.wait_log(r"\w{16}: this host is an MX host of remote\.test "
               r"\(preference 20\): only the 1 more preferred host is "
               r"tried")
    assert a.spool_has(qid), a.diag()
    assert not b.messages(BOB), "the fallback relay got it:\n" + a.diag()
    assert first.connections >= 1, first.describe()
