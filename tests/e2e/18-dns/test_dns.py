# SPDX-License-Identifier: MIT
"""`ostia dns NAME [TYPE]` (src/common/dns.c on libunbound) against a real
DNS server: Debian's unbound serving test zones (dns_server.DnsServer).

Checks every record type the mail system asks (MX with preferences, A,
AAAA, PTR by address, TXT, TLSA), that "no such domain" and "no record of
that type" stay distinct (exit 1 both, different status), that a dead
server is a temporary failure (exit 2) and never "not found", and DNSSEC:
secure=yes for the signed zone when dnssec_trust_anchor_file names its
key, secure=no without it, and a validation failure for a zone whose
signatures were spoiled.
"""

import os
import shutil
import tempfile

import pytest

from dns_server import DnsServer, dead_resolver, tlsa_rdata
from ostia_harness import self_signed

EXIT_OK, EXIT_NOTFOUND, EXIT_FAIL = 0, 1, 2

ZONES = {
    "remote.test": [
        "remote.test. 300 IN MX 20 mx2.remote.test.",
        "remote.test. 300 IN MX 10 mx1.remote.test.",
        "mx1.remote.test. 300 IN A 127.0.0.2",
        "mx1.remote.test. 300 IN AAAA ::1",
        "mx2.remote.test. 300 IN A 127.0.0.3",
        "remote.test. 300 IN TXT \"v=spf1 -all\"",
        "multi.remote.test. 300 IN TXT \"part one \" \"part two\"",
        "nullmx.remote.test. 300 IN MX 0 .",
        "alias.remote.test. 300 IN CNAME mx1.remote.test.",
    ],
    "0.0.127.in-addr.arpa": [
        "2.0.0.127.in-addr.arpa. 300 IN PTR mx1.remote.test.",
    ],
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0"
    ".ip6.arpa": [
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0"
        ".ip6.arpa. 300 IN PTR six.remote.test.",
    ],
}

SIGNED = {
    "secure.test": [
        "secure.test. 300 IN MX 5 mx.secure.test.",
        "mx.secure.test. 300 IN A 127.0.0.5",
    ],
    "broken.test": [
        "broken.test. 300 IN MX 5 mx.broken.test.",
        "mx.broken.test. 300 IN A 127.0.0.6",
    ],
}


def parse(stdout):
    """The output as {field: value, "records": [...]}."""
    out = {"records": []}
    for line in stdout.splitlines():
        key, _, value = line.partition(": ")
        if key == "record":
            out["records"].append(value)
        else:
            out[key] = value
    return out


@pytest.fixture(scope="module")
def workdir():
    d = tempfile.mkdtemp(prefix="ostia-dns-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def tlsa(workdir):
    cert, _key = self_signed(workdir, "mx1.remote.test",
                             sans=["mx1.remote.test"])
    return cert, tlsa_rdata(cert)


@pytest.fixture(scope="module")
def server(workdir, tlsa):
    zones = {k: list(v) for k, v in ZONES.items()}
    zones["remote.test"].append("_25._tcp.mx1.remote.test. 300 IN TLSA %s"
                                % tlsa[1])
    with DnsServer(workdir, zones, SIGNED,
                   broken_zones=("broken.test",)) as s:
        yield s


@pytest.fixture(params=["sync", "async"])
def inst(request, ostia_factory, server):
    """An instance pointed at the server, with its trust anchor; the
    tests using it run with the blocking API (as the delivery agents)
    and with the asynchronous one on an event loop (as smtpd: -a)."""
    o = ostia_factory()
    o.write_main_cf({"dns_resolvers": server.resolvers,
                     "dnssec_trust_anchor_file": server.trust_anchor_file})
    o.dns_args = ["-a"] if request.param == "async" else []
    return o


def dns(o, *args):
    r = o.cli("dns", *getattr(o, "dns_args", []), *args, timeout=60)
    return r.returncode, parse(r.stdout), r


def test_mx_list_with_preferences(inst):
    rc, out, r = dns(inst, "remote.test", "mx")
    assert rc == EXIT_OK, r
    assert out["name"] == "remote.test" and out["type"] == "MX"
    assert out["status"] == "ok"
    assert out["secure"] == "no"
    assert out["ttl"] == "300"
    assert sorted(out["records"]) == ["10 mx1.remote.test",
                                      "20 mx2.remote.test"]


def test_null_mx(inst):
    rc, out, r = dns(inst, "nullmx.remote.test", "MX")
    assert rc == EXIT_OK, r
    assert out["records"] == ["0 ."]


def test_a_aaaa_and_default_type(inst):
    rc, out, r = dns(inst, "mx1.remote.test")
    assert rc == EXIT_OK, r
    assert out["type"] == "A" and out["records"] == ["127.0.0.2"]
    rc, out, r = dns(inst, "mx1.remote.test", "aaaa")
    assert rc == EXIT_OK, r
    assert out["records"] == ["::1"]


def test_cname_is_followed(inst):
    rc, out, r = dns(inst, "alias.remote.test", "a")
    assert rc == EXIT_OK, r
    assert out["records"] == ["127.0.0.2"]


def test_ptr_by_address(inst):
    rc, out, r = dns(inst, "127.0.0.2", "ptr")
    assert rc == EXIT_OK, r
    assert out["name"] == "2.0.0.127.in-addr.arpa"
    assert out["records"] == ["mx1.remote.test"]
    rc, out, r = dns(inst, "::1", "ptr")
    assert rc == EXIT_OK, r
    assert out["name"].endswith(".ip6.arpa") and out["name"][0] == "1"
    assert out["records"] == ["six.remote.test"]


def test_txt_strings_joined(inst):
    rc, out, r = dns(inst, "remote.test", "txt")
    assert rc == EXIT_OK, r
    assert out["records"] == ["v=spf1 -all"]
    rc, out, r = dns(inst, "multi.remote.test", "txt")
    assert rc == EXIT_OK, r
    assert out["records"] == ["part one part two"]


def test_tlsa(inst, tlsa):
    rc, out, r = dns(inst, "_25._tcp.mx1.remote.test", "tlsa")
    assert rc == EXIT_OK, r
    assert out["records"] == [tlsa[1]]
    assert tlsa[1].startswith("3 1 1 ") and len(tlsa[1]) == 6 + 64


def test_nxdomain_and_nodata_are_distinct(inst):
    rc, out, r = dns(inst, "nosuch.remote.test", "mx")
    assert rc == EXIT_NOTFOUND, r
    assert out["status"] == "no such domain"
    assert out["records"] == []
    rc, out, r = dns(inst, "mx2.remote.test", "aaaa")
    assert rc == EXIT_NOTFOUND, r
    assert out["status"] == "no record"
    assert out["records"] == []


def test_invalid_name_is_refused(inst):
    rc, out, r = dns(inst, "bad..name.test", "a")
    assert rc == EXIT_FAIL, r
    assert out["status"] == "invalid name"
    rc, out, r = dns(inst, "remote.test", "srv")
    assert rc == EXIT_FAIL and "unknown type" in r.stderr, r


def test_dead_server_is_a_temporary_failure(ostia_factory):
    """libunbound's own give-up (SERVFAIL after its retries), never
    "not found"."""
    o = ostia_factory()
    dead = dead_resolver()
    o.write_main_cf({"dns_resolvers": dead})
    rc, out, r = dns(o, "-t", "0", "remote.test", "mx")
    assert rc == EXIT_FAIL, r
    assert out["status"] == "temporary failure"
    assert dead in out["error"] and "did not answer" in out["error"]


@pytest.mark.parametrize("mode", [[], ["-a"]], ids=["sync", "async"])
def test_lookup_timeout_is_a_temporary_failure(ostia_factory, mode):
    """Our per-lookup timeout cuts libunbound's retries short."""
    o = ostia_factory()
    dead = dead_resolver()
    o.write_main_cf({"dns_resolvers": dead})
    rc, out, r = dns(o, *mode, "-t", "1", "mx1.remote.test", "a")
    assert rc == EXIT_FAIL, r
    assert out["status"] == "temporary failure"
    assert dead in out["error"]
    assert "did not answer within 1.000 seconds" in out["error"]


def test_bad_resolver_setting(ostia_factory):
    o = ostia_factory()
    o.write_main_cf({"dns_resolvers": "not-an-address"})
    rc, out, r = dns(o, "remote.test", "mx")
    assert rc == EXIT_FAIL
    assert "not-an-address" in r.stderr and "not an IP address" in r.stderr


def test_signed_zone_is_secure_with_trust_anchor(inst):
    rc, out, r = dns(inst, "secure.test", "mx")
    assert rc == EXIT_OK, r
    assert out["secure"] == "yes"
    assert out["records"] == ["5 mx.secure.test"]
    rc, out, r = dns(inst, "mx.secure.test", "a")
    assert rc == EXIT_OK and out["secure"] == "yes", r
    # A proven denial is secure too.
    rc, out, r = dns(inst, "nosuch.secure.test", "a")
    assert rc == EXIT_NOTFOUND and out["secure"] == "yes", r
    # Outside the anchor's zone nothing is secure.
    rc, out, r = dns(inst, "remote.test", "mx")
    assert rc == EXIT_OK and out["secure"] == "no", r


def test_signed_zone_is_not_secure_without_trust_anchor(ostia_factory,
                                                        server):
    o = ostia_factory()
    o.write_main_cf({"dns_resolvers": server.resolvers})
    rc, out, r = dns(o, "secure.test", "mx")
    assert rc == EXIT_OK, r
    assert out["secure"] == "no"
    assert out["records"] == ["5 mx.secure.test"]
    # Without validation, the spoiled zone's answer is taken as it is.
    rc, out, r = dns(o, "mx.broken.test", "a")
    assert rc == EXIT_OK and out["secure"] == "no", r


def test_broken_signatures_are_bogus(inst):
    rc, out, r = dns(inst, "mx.broken.test", "a")
    assert rc == EXIT_FAIL, r
    assert out["status"] == "DNSSEC validation failure"
    assert out["secure"] == "no"
    assert out["records"] == []
    assert "DNSSEC validation failed" in out["error"]


def test_missing_trust_anchor_file(ostia_factory, server, workdir):
    o = ostia_factory()
    missing = os.path.join(workdir, "no-such-anchor")
    o.write_main_cf({"dns_resolvers": server.resolvers,
                     "dnssec_trust_anchor_file": missing})
    rc, out, r = dns(o, "secure.test", "mx")
    assert rc == EXIT_FAIL
    assert missing in r.stderr and "cannot read" in r.stderr
