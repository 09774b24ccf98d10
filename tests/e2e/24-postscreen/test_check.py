# SPDX-License-Identifier: MIT
"""`ostia check [--live]`, postscreen part: each postscreen service and
its pass service, the DNSBL sites as smtpd reads them, the threshold
that no client can reach, the cache file, the cache file; and
with --live, each zone's test entries asked through the configured
resolver (127.0.0.2 must be listed, 127.0.0.1 must not)."""

from postscreen_e2e import MASTER_CF

import dns_server


def check(o, *args):
    r = o.cli("check", *args, timeout=120)
    return r.returncode, r.stdout


def test_check_static(ostia_factory):
    o = ostia_factory(master_cf=MASTER_CF, main_cf={
        "postscreen_dnsbl_sites": "dnsbl.test*2, dnswl.test*-5",
        "postscreen_dnsbl_threshold": 3,
        "postscreen_pipelining_enable": "yes",
        "postscreen_cache_map": "memcache:/etc/x"})
    rc, out = check(o)
    assert rc == 1, out
    assert "hands clients to the pass service smtpd" in out, out
    assert "ok: DNSBL dnsbl.test, any reply, weight +2" in out, out
    assert "ok: DNSBL dnswl.test, any reply, weight -5" in out, out
    assert ("warning: the positive weights add up to 2, below "
            "postscreen_dnsbl_threshold (3): no client can ever be "
            "listed") in out, out
    assert ("warning: postscreen_cache_map = memcache:/etc/x cannot hold "
            "the cache") in out, out

    o2 = ostia_factory(master_cf=MASTER_CF, main_cf={
        "postscreen_dnsbl_sites": "dnsbl.test=127.0.0.[2..x]"})
    rc, out = check(o2)
    assert rc == 2, out
    assert ("error: postscreen_dnsbl_sites: \"dnsbl.test=127.0.0.[2..x]\": "
            "the reply filter \"127.0.0.[2..x]\" is not d.d.d.d") in out, out


def test_check_live_probes_the_lists(ostia_factory, dns):
    o = ostia_factory(master_cf=MASTER_CF, main_cf={
        "dns_resolvers": dns.resolvers,
        "postscreen_dnsbl_sites": "dnsbl.test, heavy.test, refusing.test, "
                                  "everyone.test"})
    rc, out = check(o, "--live")
    assert rc == 2, out
    assert ("ok: dnsbl.test answers: its test entry 127.0.0.2 is listed "
            "(127.0.0.2)") in out, out
    assert ("warning: heavy.test does not list its test entry 127.0.0.2 "
            "(no such domain): the zone may be misspelled") in out, out
    assert ("error: refusing.test answered 127.255.255.254: it refuses "
            "queries that come through a public or shared DNS resolver"
            ) in out, out
    assert ("error: everyone.test lists 127.0.0.1, which no working list "
            "does") in out, out

    o2 = ostia_factory(master_cf=MASTER_CF, main_cf={
        "dns_resolvers": dns_server.dead_resolver(),
        "postscreen_dnsbl_sites": "dnsbl.test"})
    rc, out = check(o2, "--live")
    assert rc == 2, out
    assert ("error: dnsbl.test: the test entry 127.0.0.2 could not be "
            "asked: ") in out, out
