# SPDX-License-Identifier: MIT
"""Relaying by sender, as docker-mailserver's and mailcow's relay
settings use it: sender_dependent_relayhost_maps picks the relay host
from the envelope sender (address, then @domain; the null sender as
empty_address_relayhost_maps_lookup_key), DUNNO keeps relayhost, a
transport with its own next hop wins; smtp_sender_dependent_
authentication logs in with the sender's credentials, and a connection
made for one login never carries another sender's mail.  Scripted
peers play the relay hosts and record MAIL FROM and AUTH.
"""

import re

from delivery_e2e import token
from ostia_harness import dead_mysql_table
from outbound_e2e import REMOTE, message_for

BOB = "bob@" + REMOTE
ALICE = "alice@special.example"
BOSS = "boss@special.example"
OTHER = "other@example.org"


def mail_froms(p):
    """The MAIL FROM addresses of p's completed transactions."""
    out = []
    for t in p.completed():
        m = re.search(r"<([^>]*)>", t["mail"])
        out.append(m.group(1) if m else None)
    return out


def sender_a(mta, dns, name="a.ostia.test", **params):
    """A started Ostia that knows no names (relay hosts are addresses)
    with params; tables in params are callables of the instance."""
    a = mta(name)
    a.params["dns_resolvers"] = dns({}).resolvers
    for k, v in params.items():
        a.params[k] = v(a) if callable(v) else v
    return a.start()


def test_relay_host_by_sender(mta, peer, dns):
    """@special.example goes to its own relay host; boss@ (DUNNO) and
    other senders to relayhost."""
    default = peer(name="smart.test")
    special = peer(name="special-relay.test")
    a = sender_a(mta, dns, relayhost=default.nexthop,
                 sender_dependent_relayhost_maps=lambda a: a.table("sdr", {
                     "@special.example": special.nexthop,
                     BOSS: "DUNNO"}))
    for sender in (ALICE, BOSS, OTHER):
        a.send(BOB, message_for(token(), BOB), sender=sender)
    special.wait(lambda s: s.delivered(BOB) == 1, "alice's mail",
                 diag=a.diag)
    default.wait(lambda s: s.delivered(BOB) == 2, "the others' mail",
                 diag=a.diag)
    a.wait_queue_empty()
    assert mail_froms(special) == [ALICE], special.describe()
    assert sorted(mail_froms(default)) == sorted([BOSS, OTHER]), \
        default.describe()


def test_null_sender_key_and_transport_next_hop_wins(mta, peer, dns):
    """The null sender is looked up as "<>"; a default_transport with a
    next hop of its own is not overridden (Postfix's order)."""
    default = peer(name="smart.test")
    bounces = peer(name="bounce-relay.test")
    a = sender_a(mta, dns, relayhost=default.nexthop,
                 sender_dependent_relayhost_maps=lambda a: a.table("sdr", {
                     "<>": bounces.nexthop}))
    a.send(BOB, message_for(token(), BOB), sender="")
    bounces.wait(lambda s: s.delivered(BOB) == 1, "the null sender's mail",
                 diag=a.diag)
    a.wait_queue_empty()
    assert not default.completed(), default.describe()

    fixed = peer(name="fixed.test")
    b = sender_a(mta, dns, "b.ostia.test",
                 default_transport="smtp:" + fixed.nexthop,
                 sender_dependent_relayhost_maps=lambda b: b.table("sdr", {
                     "@special.example": bounces.nexthop}))
    b.send(BOB, message_for(token(), BOB), sender=ALICE)
    fixed.wait(lambda s: s.delivered(BOB) == 1, "via default_transport",
               diag=b.diag)


def test_relay_host_lookup_failure_defers(mta, peer, dns, tmp_path):
    """A sender_dependent_relayhost_maps table that cannot answer: the
    mail is deferred with the reason, never sent to relayhost."""
    default = peer(name="smart.test")
    a = sender_a(mta, dns, relayhost=default.nexthop,
                 sender_dependent_relayhost_maps=dead_mysql_table(tmp_path))
    qid = a.send(BOB, message_for(token(), BOB), sender=ALICE)
    line = a.wait_status(BOB, "deferred", timeout=90).group(0)
    assert "sender_dependent_relayhost_maps lookup of <%s> failed" % ALICE \
        in line, line
    a.wait_deferred_in_queue(qid)
    assert not default.completed(), default.describe()


def test_default_transport_by_sender(mta, peer, dns, tmp_path):
    """sender_dependent_default_transport_maps (as mailcow's per-domain
    relays use it): @special.example's mail leaves through its own
    transport and next hop, boss@ (DUNNO) and the others through
    default_transport and relayhost; a transport_maps entry wins over
    it.  A table that cannot answer defers the mail, never sends it the
    default way."""
    default = peer(name="smart.test")
    special = peer(name="special-relay.test")
    mapped = peer(name="mapped.test")
    a = mta("a.ostia.test")
    a.params["dns_resolvers"] = dns({}).resolvers
    a.params["relayhost"] = default.nexthop
    a.params["sender_dependent_default_transport_maps"] = a.table(
        "sddt", {"@special.example": "smtp:" + special.nexthop,
                 BOSS: "DUNNO"})
    a.route("mapped.example", "smtp:" + mapped.nexthop)
    a.start()
    for sender in (ALICE, BOSS, OTHER):
        a.send(BOB, message_for(token(), BOB), sender=sender)
    a.send("x@mapped.example", message_for(token(), "x@mapped.example"),
           sender=ALICE)
    special.wait(lambda s: s.delivered(BOB) == 1, "alice's mail",
                 diag=a.diag)
    default.wait(lambda s: s.delivered(BOB) == 2, "the others' mail",
                 diag=a.diag)
    mapped.wait(lambda s: s.delivered("x@mapped.example") == 1,
                "the transport_maps destination", diag=a.diag)
    a.wait_queue_empty()
    assert mail_froms(special) == [ALICE], special.describe()
    assert sorted(mail_froms(default)) == sorted([BOSS, OTHER]), \
        default.describe()

    b = sender_a(mta, dns, "b.ostia.test", relayhost=default.nexthop,
                 sender_dependent_default_transport_maps=dead_mysql_table(
                     tmp_path))
    qid = b.send(BOB, message_for(token(), BOB), sender=ALICE)
    line = b.wait_status(BOB, "deferred", timeout=90).group(0)
    assert ("sender_dependent_default_transport_maps lookup of <%s> "
            "failed" % ALICE) in line, line
    b.wait_deferred_in_queue(qid)
    assert len(default.completed()) == 2, default.describe()


def test_sender_dependent_authentication(mta, peer, dns):
    """smtp_sender_dependent_authentication: the sender's credentials
    (address, then @domain) before the next hop's; each login on its
    own connection even with connection caching on."""
    relay = peer(name="provider.test",
                 auth={"alice-login": "pw-a", "special-login": "pw-s",
                       "default-login": "pw-d"})
    hop = relay.nexthop
    a = sender_a(mta, dns, relayhost=hop, smtp_sasl_auth_enable="yes",
                 smtp_sasl_security_options="noanonymous",
                 smtp_sender_dependent_authentication="yes",
                 smtp_connection_cache_on_demand="yes",
                 smtp_sasl_password_maps=lambda a: a.table("sasl_passwd", {
                     ALICE: "alice-login:pw-a",
                     "@special.example": "special-login:pw-s",
                     hop: "default-login:pw-d"}))
    for sender in (ALICE, BOSS, OTHER, ALICE):
        a.send(BOB, message_for(token(), BOB), sender=sender)
    relay.wait(lambda s: s.delivered(BOB) == 4, "four messages",
               diag=a.diag)
    a.wait_queue_empty()
    by_login = {}
    for t in relay.completed():
        m = re.search(r"<([^>]*)>", t["mail"])
        by_login.setdefault(t["auth"], []).append(m.group(1))
    assert sorted(by_login) == ["alice-login", "default-login",
                                "special-login"], relay.describe()
    assert by_login["alice-login"] == [ALICE, ALICE], relay.describe()
    assert by_login["special-login"] == [BOSS], relay.describe()
    assert by_login["default-login"] == [OTHER], relay.describe()
    assert "pw-a" not in a.o.log_text() and "pw-s" not in a.o.log_text()


def test_ostia_route_shows_the_sender_relay_host(mta, dns, peer):
    special = peer(name="special-relay.test")
    a = sender_a(mta, dns, relayhost="[smart.test]",
                 sender_dependent_relayhost_maps=lambda a: a.table("sdr", {
                     "@special.example": special.nexthop}))
    r = a.o.cli("route", "-f", ALICE, BOB)
    assert r.returncode == 0, r.stderr
    assert "nexthop for this sender: %s" % special.nexthop in r.stdout, \
        r.stdout
    r = a.o.cli("route", "-f", OTHER, BOB)
    assert "no entry for <%s>" % OTHER in r.stdout, r.stdout
    assert "nexthop for this sender: [smart.test]" in r.stdout, r.stdout


def test_ostia_route_shows_the_sender_default_transport(mta, dns, peer):
    """`ostia route -f SENDER`: the sender's default transport, whose next
    hop then wins over the sender's relay host, as the queue manager
    does."""
    special = peer(name="special-relay.test")
    a = sender_a(mta, dns, relayhost="[smart.test]",
                 sender_dependent_default_transport_maps=lambda a: a.table(
                     "sddt", {"@special.example": "relay2:" +
                              special.nexthop}),
                 sender_dependent_relayhost_maps=lambda a: a.table("sdr", {
                     "@special.example": "[other.test]"}))
    r = a.o.cli("route", "-f", ALICE, BOB)
    assert r.returncode == 0, r.stderr
    assert "flags: relayhost default-transport" in r.stdout, r.stdout
    assert ("sender_dependent_default_transport_maps gives relay2:%s"
            % special.nexthop) in r.stdout, r.stdout
    assert "transport for this sender: relay2" in r.stdout, r.stdout
    assert "nexthop for this sender: %s" % special.nexthop in r.stdout, \
        r.stdout
    r = a.o.cli("route", "-f", OTHER, BOB)
    assert ("sender_dependent_default_transport_maps no entry for <%s>"
            % OTHER) in r.stdout, r.stdout
    assert "transport for this sender: smtp" in r.stdout, r.stdout
    assert "nexthop for this sender: [smart.test]" in r.stdout, r.stdout
