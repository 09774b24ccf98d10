# SPDX-License-Identifier: MIT
"""smtpd and DNS: the client name at connect and the DNS restrictions.

Client names (smtpd_peername_lookup = yes, the default): the PTR of the
client address, then the A records of that name must include the
address (forward-confirmed); else the client is "unknown" and the log
says why.  The name shows in "connect from NAME[ADDR]", the Received:
header and the queue file's client, and check_client_access matches it.

Restrictions: reject_unknown_client_hostname, reject_unknown_reverse_
client_hostname, reject_unknown_helo_hostname, reject_unknown_sender_
domain (MX, A; null MX), reject_rbl_client, reject_rhsbl_sender.  A DNS
lookup that fails (a dead DNS server) is a 4xx, never 250.

The zones and addresses are described in smtpd_dns_e2e.py.
"""

import re
import subprocess

import pytest

from smtpd_dns_e2e import (GOOD, LIAR, LISTED, NOPTR, RCPT, REFUSED, SMTPD,
                           TXT_RBL, TXT_RHSBL, connect, dead_resolver, start,
                           transaction)


def queue_show(o, qid):
    r = subprocess.run([o.binary, "-c", o.confdir, "queue", "show", qid],
                       capture_output=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr.decode("utf-8", "replace")
    return r.stdout


# ------------------------------------------------------- client names

def test_forward_confirmed_name(ostia_factory, dns):
    o = start(ostia_factory, dns.resolvers)
    _, rcpt, qid = transaction(o, GOOD)
    assert rcpt[0] == 250, rcpt
    o.wait_for_log(SMTPD + r"connect from client\.good\.test\[127\.0\.0\.1\]$")
    shown = queue_show(o, qid)
    assert b"\nclient: client.good.test[127.0.0.1]\n" in shown, shown[:600]
    assert re.search(rb"\n\nReceived: from client\.good\.test "
                     rb"\(client\.good\.test \[127\.0\.0\.1\]\)\r\n",
                     shown), shown[:600]
    o.wait_for_log(SMTPD + qid + r": client=client\.good\.test"
                   r"\[127\.0\.0\.1\]$")


def test_no_ptr_is_unknown(ostia_factory, dns):
    o = start(ostia_factory, dns.resolvers)
    _, rcpt, qid = transaction(o, NOPTR)
    assert rcpt[0] == 250, rcpt
    o.wait_for_log(SMTPD + r"client 127\.0\.0\.4: name is unknown: no PTR "
                   r"record for 127\.0\.0\.4$")
    o.wait_for_log(SMTPD + r"connect from unknown\[127\.0\.0\.4\]$")
    assert b"(unknown [127.0.0.4])" in queue_show(o, qid)


def test_ptr_not_resolving_back_is_unknown(ostia_factory, dns):
    o = start(ostia_factory, dns.resolvers)
    _, rcpt, _ = transaction(o, LIAR, data=False)
    assert rcpt[0] == 250, rcpt
    o.wait_for_log(SMTPD + r"client 127\.0\.0\.3: name is unknown: PTR name "
                   r"liar\.good\.test does not resolve back to the address "
                   r"127\.0\.0\.3$")
    o.wait_for_log(SMTPD + r"connect from unknown\[127\.0\.0\.3\]$")


CACHED = r"name %s \(PTR name %s\) from the cache of recent lookups$"


def test_client_name_cached_for_the_next_connection(ostia_factory, dns):
    """smtpd keeps a client name outcome (for the DNS TTL, at most 60 s):
    the second connection from the same address takes it from there, with
    the same name and the same log lines."""
    o = start(ostia_factory, dns.resolvers, extra_args=("-v",))
    for _ in range(2):
        _, rcpt, _ = transaction(o, GOOD, data=False)
        assert rcpt[0] == 250, rcpt
    for _ in range(2):
        _, rcpt, _ = transaction(o, NOPTR, data=False)
        assert rcpt[0] == 250, rcpt
    o.wait_for_log(SMTPD + r"client 127\.0\.0\.1: " +
                   CACHED % (r"client\.good\.test", r"client\.good\.test"))
    o.wait_for_log(SMTPD + r"client 127\.0\.0\.4: " +
                   CACHED % ("unknown", "unknown"))
    text = o.log_text()
    # Once each: the first connection asked DNS.
    assert len(re.findall(r"127\.0\.0\.1: name .* from the cache", text)) \
        == 1, text[-3000:]
    assert len(re.findall(r"127\.0\.0\.4: name .* from the cache", text)) \
        == 1, text[-3000:]
    assert len(re.findall(r"connect from client\.good\.test"
                          r"\[127\.0\.0\.1\]$", text, re.M)) == 2
    # The reason is logged for a cached "unknown" too.
    assert len(re.findall(r"client 127\.0\.0\.4: name is unknown: no PTR "
                          r"record for 127\.0\.0\.4$", text, re.M)) == 2


def test_temporary_failure_not_cached(ostia_factory, tmp_path):
    """A temporary DNS failure is never kept: every connection asks
    again."""
    import dns_server

    with dns_server.DnsServer(str(tmp_path), {},
                              refuse_zones=("127.in-addr.arpa",)) as d:
        o = start(ostia_factory, d.resolvers, extra_args=("-v",))
        for _ in range(2):
            _, rcpt, _ = transaction(o, GOOD, data=False)
            assert rcpt[0] == 250, rcpt
        o.wait_for_log(SMTPD + r"disconnect from unknown\[127\.0\.0\.1\]")
        text = o.log_text()
        assert len(re.findall(r"client 127\.0\.0\.1: name is unknown: "
                              r"temporary DNS failure", text)) == 2, \
            text[-3000:]
        assert "from the cache" not in text


def test_peername_lookup_off(ostia_factory, dns):
    o = start(ostia_factory, dns.resolvers, smtpd_peername_lookup="no")
    _, rcpt, _ = transaction(o, GOOD, data=False)
    assert rcpt[0] == 250, rcpt
    o.wait_for_log(SMTPD + r"connect from unknown\[127\.0\.0\.1\]$")
    assert "client.good.test[" not in o.log_text()


def test_check_client_access_matches_the_name(ostia_factory, dns):
    """The name and its parent domains, then the address."""
    o = ostia_factory()
    table = o.tmpdir + "/client_access"
    with open(table, "w") as f:
        f.write("good.test REJECT known by name\n"
                "127.0.0.4 REJECT known by address\n")
    o.update_main_cf({"dns_resolvers": dns.resolvers,
                      "smtpd_peername_lookup": "yes",
                      "mynetworks": "127.0.0.0/8",
                      "smtpd_client_restrictions":
                      "check_client_access texthash:" + table})
    o.start_foreground()
    _, rcpt, _ = transaction(o, GOOD, data=False)
    assert rcpt == (554, "5.7.1 <client.good.test[127.0.0.1]>: Client host "
                    "rejected: known by name"), rcpt
    _, rcpt, _ = transaction(o, NOPTR, data=False)
    assert rcpt == (554, "5.7.1 <unknown[127.0.0.4]>: Client host "
                    "rejected: known by address"), rcpt
    _, rcpt, _ = transaction(o, LIAR, data=False)
    assert rcpt[0] == 250, rcpt


# ------------------------------------------- client name restrictions

@pytest.mark.parametrize("code", [None, "550"])
def test_reject_unknown_client_hostname(ostia_factory, dns, code):
    params = {"smtpd_client_restrictions": "reject_unknown_client_hostname"}
    if code:
        params["unknown_client_reject_code"] = code
    o = start(ostia_factory, dns.resolvers, **params)
    c = code or "450"
    _, rcpt, _ = transaction(o, GOOD, data=False)
    assert rcpt[0] == 250, rcpt
    for source in (LIAR, NOPTR):
        _, rcpt, _ = transaction(o, source, data=False)
        assert rcpt == (int(c), "%s.7.25 Client host rejected: cannot find "
                        "your hostname, [%s]" % (c[0], source)), rcpt
    o.wait_for_log(SMTPD + r"NOQUEUE: reject: RCPT from unknown"
                   r"\[127\.0\.0\.3\]: %s %s\.7\.25 " % (c, c[0]))


def test_reject_unknown_client_alias(ostia_factory, dns):
    o = start(ostia_factory, dns.resolvers,
              smtpd_client_restrictions="reject_unknown_client")
    _, rcpt, _ = transaction(o, NOPTR, data=False)
    assert rcpt[0] == 450 and "cannot find your hostname" in rcpt[1], rcpt


def test_reject_unknown_reverse_client_hostname(ostia_factory, dns):
    """A PTR is enough, confirmed or not."""
    o = start(ostia_factory, dns.resolvers, smtpd_client_restrictions=
              "reject_unknown_reverse_client_hostname")
    for source in (GOOD, LIAR):
        _, rcpt, _ = transaction(o, source, data=False)
        assert rcpt[0] == 250, (source, rcpt)
    _, rcpt, _ = transaction(o, NOPTR, data=False)
    assert rcpt == (450, "4.7.25 Client host rejected: cannot find your "
                    "reverse hostname, [127.0.0.4]"), rcpt


def test_reject_unknown_helo_hostname(ostia_factory, dns):
    o = start(ostia_factory, dns.resolvers,
              smtpd_helo_restrictions="reject_unknown_helo_hostname")
    _, rcpt, _ = transaction(o, NOPTR, helo="mx.good.test", data=False)
    assert rcpt[0] == 250, rcpt
    _, rcpt, _ = transaction(o, GOOD, helo="nosuchhost.nowhere.test",
                             data=False)
    assert rcpt == (450, "4.7.1 <nosuchhost.nowhere.test>: Helo command "
                    "rejected: Host not found"), rcpt


# -------------------------------------------------- sender domains

@pytest.mark.parametrize("code", [None, "550"])
def test_reject_unknown_sender_domain(ostia_factory, dns, code):
    params = {"smtpd_sender_restrictions": "reject_unknown_sender_domain"}
    if code:
        params["unknown_address_reject_code"] = code
    o = start(ostia_factory, dns.resolvers, **params)
    c = code or "450"
    for sender in ("a@good.test", "a@aonly.test", ""):
        _, rcpt, qid = transaction(o, GOOD, sender=sender)
        assert rcpt[0] == 250 and qid, (sender, rcpt)
    _, rcpt, _ = transaction(o, GOOD, sender="a@nowhere.test")
    assert rcpt == (int(c), "%s.1.8 <a@nowhere.test>: Sender address "
                    "rejected: Domain not found" % c[0]), rcpt
    # RFC 7505: a null MX is a permanent "takes no mail".
    _, rcpt, _ = transaction(o, GOOD, sender="a@nullmx.test")
    assert rcpt == (550, "5.7.27 <a@nullmx.test>: Sender address "
                    "rejected: Domain nullmx.test does not accept mail "
                    "(nullMX)"), rcpt


def test_reject_unknown_recipient_domain(ostia_factory, dns):
    o = start(ostia_factory, dns.resolvers, smtpd_recipient_restrictions=
              "reject_unknown_recipient_domain, permit_mynetworks, "
              "reject_unauth_destination")
    _, rcpt, _ = transaction(o, GOOD, rcpt="x@good.test", data=False)
    assert rcpt[0] == 250, rcpt
    _, rcpt, _ = transaction(o, GOOD, rcpt="x@nowhere.test", data=False)
    assert rcpt == (450, "4.1.2 <x@nowhere.test>: Recipient address "
                    "rejected: Domain not found"), rcpt
    _, rcpt, _ = transaction(o, GOOD, rcpt="x@nullmx.test", data=False)
    assert rcpt[0] == 556 and rcpt[1].startswith("5.1.10 "), rcpt


# --------------------------------- check_*_{a,mx,ns}_access

def test_check_sender_mx_and_ns_access(ostia_factory, dns):
    """check_sender_mx_access: the sender domain's MX hosts (or, without
    MX, the domain itself) and their addresses are looked up in the
    table (the classic "bogon MX" list); check_sender_ns_access: its name
    servers.  OK is not allowed there (a warning, ignored, as Postfix);
    a domain that does not exist has nothing to check."""
    o = start(ostia_factory, dns.resolvers, smtpd_peername_lookup="no",
              smtpd_sender_restrictions=
              "check_sender_mx_access inline:{ { 10.1 = REJECT bogon MX }, "
              "10.2=OK }, check_sender_ns_access "
              "inline:{ { evil.test = REJECT evil name server } }")
    for sender in ("a@good.test", "a@aonly.test", "a@okmx.test",
                   "a@nowhere.test"):
        _, rcpt, qid = transaction(o, GOOD, sender=sender)
        assert rcpt[0] == 250 and qid, (sender, rcpt)
    _, rcpt, qid = transaction(o, GOOD, sender="a@bogusmx.test")
    assert rcpt == (554, "5.7.1 <a@bogusmx.test>: Sender address "
                    "rejected: bogon MX"), rcpt
    assert qid is None
    o.wait_for_log(SMTPD + r"unknown\[127\.0\.0\.1\]: check_sender_mx_access: "
                   r"the MX host mx\.bogusmx\.test of bogusmx\.test "
                   r"\(address 10\.1\.2\.3\) is listed in inline:")
    o.wait_for_log(SMTPD + r"warning: .*check_sender_mx_access inline:.*: "
                   r"the MX host mx\.okmx\.test of okmx\.test \(address "
                   r"10\.2\.0\.1\) is listed with \"OK\", which is not "
                   r"allowed there")
    _, rcpt, _ = transaction(o, GOOD, sender="a@badns.test")
    assert rcpt == (554, "5.7.1 <a@badns.test>: Sender address rejected: "
                    "evil name server"), rcpt


def test_check_helo_a_access_and_dns_failure(ostia_factory, dns):
    """check_helo_a_access: the HELO name's addresses; a DNS server that
    does not answer defers (4.4.3), never a pass."""
    o = start(ostia_factory, dns.resolvers, smtpd_peername_lookup="no",
              smtpd_helo_required="yes",
              smtpd_helo_restrictions="check_helo_a_access "
              "inline:{ { 10.1.2.3 = REJECT your name points at a bogon } }")
    _, rcpt, qid = transaction(o, GOOD, helo="client.good.test")
    assert rcpt[0] == 250 and qid, rcpt
    _, rcpt, _ = transaction(o, GOOD, helo="mx.bogusmx.test")
    assert rcpt == (554, "5.7.1 <mx.bogusmx.test>: Helo command "
                    "rejected: your name points at a bogon"), rcpt
    dead = start(ostia_factory, dead_resolver(), smtpd_peername_lookup="no",
                 smtpd_sender_restrictions="check_sender_mx_access "
                 "inline:{ 10.1=REJECT }")
    _, rcpt, qid = transaction(dead, GOOD, sender="a@good.test")
    assert rcpt == (450, "4.4.3 <a@good.test>: Sender address rejected: "
                    "cannot find the MX hosts of good.test (temporary "
                    "DNS failure)"), rcpt
    assert qid is None
    # Without its table: named at start, and mail reaching it waits.
    bare = start(ostia_factory, dns.resolvers, smtpd_peername_lookup="no",
                 smtpd_sender_restrictions="check_sender_mx_access")
    _, rcpt, qid = transaction(bare, GOOD, sender="a@good.test")
    assert rcpt[0] // 100 == 4 and qid is None, rcpt
    bare.wait_for_log(r"check_sender_mx_access\" needs an argument")


# --------------------------------------------------- permit_mx_backup

@pytest.mark.parametrize("networks,backup_ok", [
    (None, True),
    ("192.0.2.0/24", True),     # the primary MX is in them
    ("198.51.100.0/24", False),
])
def test_permit_mx_backup(ostia_factory, dns, networks, backup_ok):
    """permit_mx_backup: mail for a domain whose MX list names this host
    (127.0.0.1, one of inet_interfaces = all) as a backup is relayed;
    not when this host is the primary MX, not for a domain it is no MX
    of, not for a local part with routing of its own, and, with
    permit_mx_backup_networks, only when a primary MX is in them."""
    params = {"smtpd_relay_restrictions": "",
              "smtpd_recipient_restrictions":
              "permit_mx_backup, reject_unauth_destination"}
    if networks:
        params["permit_mx_backup_networks"] = networks
    o = start(ostia_factory, dns.resolvers, smtpd_peername_lookup="no",
              **params)
    _, rcpt, qid = transaction(o, GOOD, rcpt="x@backup.test")
    if backup_ok:
        assert rcpt[0] == 250 and qid, rcpt
        o.wait_for_log(SMTPD + r"unknown\[127\.0\.0\.1\]: permit_mx_backup: "
                       r"this host is a backup MX host of backup\.test "
                       r"\(preference 20; the primary's 10\): permitted")
    else:
        assert rcpt[0] == 554 and "Relay access denied" in rcpt[1], rcpt
        o.wait_for_log(SMTPD + r"unknown\[127\.0\.0\.1\]: permit_mx_backup: "
                       r"no primary MX host of "
                       r"backup\.test is in permit_mx_backup_networks")
    for addr in ("x@primary.test", "x@good.test", "x%y@backup.test",
                 "x@nowhere.test"):
        _, rcpt, _ = transaction(o, GOOD, rcpt=addr, data=False)
        assert rcpt[0] == 554 and "Relay access denied" in rcpt[1], \
            (addr, rcpt)
    o.wait_for_log(SMTPD + r"unknown\[127\.0\.0\.1\]: permit_mx_backup: this "
                   r"host is a primary MX host of primary\.test \(preference "
                   r"10\), not a backup")


# ------------------------------------------------- DNS failures

def test_dead_dns_server_defers(ostia_factory):
    """Nothing answers: the client is unknown (temporary failure), and
    every DNS restriction gives 4xx, never a pass and never a 5xx."""
    o = start(ostia_factory, dead_resolver(), smtpd_client_restrictions=
              "reject_unknown_client_hostname",
              smtpd_sender_restrictions="reject_unknown_sender_domain",
              unknown_client_reject_code="550",
              unknown_address_reject_code="550")
    s = connect(o, GOOD)
    try:
        code, _ = s.mail("a@good.test")
        assert code == 250
        code, text = s.rcpt(RCPT)
        assert code == 450, (code, text)
        assert text.startswith(b"4.7.25 Client host rejected: cannot find "
                               b"your hostname, [127.0.0.1]"), text
        code, _ = s.docmd("DATA")
        assert code in (503, 554), code     # no recipient: never 354
    finally:
        s.close()
    o.wait_for_log(SMTPD + r"client 127\.0\.0\.1: name is unknown: "
                   r"temporary DNS failure")
    o.wait_for_log(SMTPD + r"warning: unknown\[127\.0\.0\.1\]: "
                   r"reject_unknown_sender_domain: cannot check good\.test: "
                   r"DNS lookup of good\.test \(MX\) failed: ")
    assert not re.search(r"queued as|: client=", o.log_text())


def test_dead_dns_server_sender_domain_alone(ostia_factory):
    o = start(ostia_factory, dead_resolver(), smtpd_peername_lookup="no",
              smtpd_sender_restrictions="reject_unknown_sender_domain",
              unknown_address_reject_code="550")
    _, rcpt, qid = transaction(o, GOOD, sender="a@good.test")
    assert rcpt == (450, "4.4.3 <a@good.test>: Sender address rejected: "
                    "Domain not found (temporary DNS failure)"), rcpt
    assert qid is None


# ------------------------------------------------------- DNSBLs

def test_reject_rbl_client(ostia_factory, dns):
    o = start(ostia_factory, dns.resolvers,
              smtpd_client_restrictions="reject_rbl_client dnsbl.test")
    _, rcpt, _ = transaction(o, LISTED, data=False)
    assert rcpt == (554, "5.7.1 Service unavailable; Client host "
                    "[127.0.0.2] blocked using dnsbl.test; " + TXT_RBL), rcpt
    o.wait_for_log(SMTPD + r"NOQUEUE: reject: RCPT from unknown"
                   r"\[127\.0\.0\.2\]: 554 5\.7\.1 Service unavailable; "
                   r"Client host \[127\.0\.0\.2\] blocked using dnsbl\.test")
    for source in (GOOD, NOPTR):
        _, rcpt, qid = transaction(o, source)
        assert rcpt[0] == 250 and qid, (source, rcpt)


def test_rbl_error_answer_defers(ostia_factory, dns):
    """127.255.255.254 is the list refusing our resolver, not a listing:
    the mail is deferred (never rejected, never accepted unchecked) and
    the log says what to do."""
    o = start(ostia_factory, dns.resolvers,
              smtpd_client_restrictions="reject_rbl_client dnsbl.test")
    _, rcpt, qid = transaction(o, REFUSED, data=False)
    assert rcpt == (450, "4.7.1 Service unavailable; Client host "
                    "[127.0.0.9] could not be checked with dnsbl.test "
                    "(DNSBL error)"), rcpt
    o.wait_for_log(SMTPD + r"warning: unknown\[127\.0\.0\.9\]: "
                   r"reject_rbl_client: cannot check 127\.0\.0\.9: "
                   r"dnsbl\.test answered 127\.255\.255\.254: it refuses "
                   r"queries that come through a public or shared DNS "
                   r"resolver")


def test_maps_rbl_reject_code(ostia_factory, dns):
    """maps_rbl_reject_code sets the code, and the enhanced code's class
    follows it."""
    o = start(ostia_factory, dns.resolvers,
              smtpd_client_restrictions="reject_rbl_client dnsbl.test",
              maps_rbl_reject_code="450")
    _, rcpt, qid = transaction(o, LISTED, data=False)
    assert rcpt == (450, "4.7.1 Service unavailable; Client host "
                    "[127.0.0.2] blocked using dnsbl.test; " + TXT_RBL), rcpt
    assert qid is None


def test_reject_rbl_client_reply_filter(ostia_factory, dns):
    """zone=d.d.d.d: only that reply lists."""
    o = start(ostia_factory, dns.resolvers, smtpd_client_restrictions=
              "reject_rbl_client dnsbl.test=127.0.0.[3..9]")
    _, rcpt, _ = transaction(o, LISTED, data=False)
    assert rcpt[0] == 250, rcpt
    o2 = start(ostia_factory, dns.resolvers, smtpd_client_restrictions=
               "reject_rbl_client dnsbl.test=127.0.0.[1..2]")
    _, rcpt, _ = transaction(o2, LISTED, data=False)
    assert rcpt[0] == 554, rcpt


def test_reject_rhsbl_sender(ostia_factory, dns):
    o = start(ostia_factory, dns.resolvers,
              smtpd_sender_restrictions="reject_rhsbl_sender rhsbl.test")
    _, rcpt, _ = transaction(o, GOOD, sender="x@spammer.test", data=False)
    assert rcpt == (554, "5.7.1 Service unavailable; Sender address "
                    "[spammer.test] blocked using rhsbl.test; " + TXT_RHSBL), \
        rcpt
    _, rcpt, qid = transaction(o, GOOD, sender="x@good.test")
    assert rcpt[0] == 250 and qid, rcpt


def test_resolver_unavailable(ostia_factory):
    """A resolver that cannot be made: logged, and smtpd goes on without
    DNS: clients are unknown and DNS restrictions defer."""
    o = start(ostia_factory, "not-an-address",
              smtpd_client_restrictions="reject_unknown_client_hostname",
              unknown_client_reject_code="550")
    _, rcpt, qid = transaction(o, GOOD)
    assert rcpt == (450, "4.7.25 Client host rejected: cannot find your "
                    "hostname, [127.0.0.1]"), rcpt
    assert qid is None
    o.wait_for_log(SMTPD + r"error: DNS resolver unavailable: .*"
                   r"not-an-address")
    o.wait_for_log(SMTPD + r"client 127\.0\.0\.1: name is unknown: DNS "
                   r"resolver unavailable$")
