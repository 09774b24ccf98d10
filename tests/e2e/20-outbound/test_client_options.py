# SPDX-License-Identifier: MIT
"""Options of the smtp agent's connections, seen from a scripted peer
(smtp_peer.py) that is the MX of remote.test through the loopback DNS
server:

- smtp_tls_servername: the SNI name in the ClientHello (none by default
  at level may; the MX host name with "hostname"; the next-hop domain
  with "nexthop"; a fixed name as written);
- smtp_address_preference: with A and AAAA records for the MX host and
  inet_protocols = all, the address family tried first (IPv4 by
  default and with "ipv4", IPv6 with "ipv6"); each family's address is
  a peer of its own, so the one that got the mail shows the choice.
"""

import socket
import ssl

import pytest

from delivery_e2e import token
from outbound_e2e import REMOTE, message_for, mx_zone

BOB = "bob@" + REMOTE
MX1 = "mx1.remote.test"


@pytest.mark.parametrize("setting,want", [
    (None, None),
    ("hostname", MX1),
    ("nexthop", REMOTE),
    ("sni.example.net", "sni.example.net"),
])
def test_smtp_tls_servername(mta, peer, dns, certs, port, setting, want):
    seen = []
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs.leaf_chain, certs.leaf_key)
    ctx.sni_callback = lambda sock, name, c: seen.append(name)
    p = peer(host="127.0.0.2", port=port, name=MX1, tls=ctx)
    srv = dns({REMOTE: mx_zone()})
    a = mta("a.ostia.test").use_dns(srv, port)
    a.params["smtp_tls_security_level"] = "may"
    if setting is not None:
        a.params["smtp_tls_servername"] = setting
    a.start()
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    p.wait(lambda s: s.delivered(BOB) == 1, "delivery over TLS",
           diag=a.diag)
    assert p.completed()[0]["tls"] is not None, p.describe()
    assert seen == [want], seen


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError as e:
        pytest.skip("no IPv6 loopback address (::1): %s" % e)


@pytest.mark.parametrize("setting,want", [
    (None, "127.0.0.2"),
    ("ipv4", "127.0.0.2"),
    ("ipv6", "::1"),
])
def test_smtp_address_preference(mta, peer, dns, port, setting, want):
    ipv6_loopback()
    peers = {"127.0.0.2": peer(host="127.0.0.2", port=port, name=MX1),
             "::1": peer(host="::1", port=port, name=MX1)}
    srv = dns({REMOTE: mx_zone() + ["%s. 300 IN AAAA ::1" % MX1]})
    a = mta("a.ostia.test").use_dns(srv, port)
    a.params["inet_protocols"] = "all"
    if setting is not None:
        a.params["smtp_address_preference"] = setting
    a.start()
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    p = peers[want]
    p.wait(lambda s: s.delivered(BOB) == 1, "delivery to [%s]" % want,
           diag=a.diag)
    other = peers["::1" if want == "127.0.0.2" else "127.0.0.2"]
    assert other.connections == 0, other.describe()
    a.wait_sent(BOB, MX1, want, port)


def test_bind_addresses_per_family(mta, peer, dns, port):
    """smtp_bind_address binds IPv4 connections only: an MX with only an
    IPv6 address is still reached (as in Postfix); smtp_bind_address6
    binds the IPv6 ones, and one that is not an IPv6 address defers the
    mail with words naming it."""
    ipv6_loopback()
    p6 = peer(host="::1", port=port, name=MX1)
    zone = ["%s. 300 IN MX 10 %s." % (REMOTE, MX1),
            "%s. 300 IN AAAA ::1" % MX1]
    srv = dns({REMOTE: zone})
    a = mta("a.ostia.test").use_dns(srv, port)
    a.params.update({"inet_protocols": "all",
                     "smtp_bind_address": "127.0.0.5",
                     "smtp_bind_address6": "::1"})
    a.start()
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    p6.wait(lambda s: s.delivered(BOB) == 1, "delivery over IPv6",
            diag=a.diag)
    assert p6.clients[0] in ("::1", "[::1]"), p6.clients


def test_bind_address6_of_the_wrong_family(mta, peer, dns, port):
    ipv6_loopback()
    p6 = peer(host="::1", port=port, name=MX1)
    zone = ["%s. 300 IN MX 10 %s." % (REMOTE, MX1),
            "%s. 300 IN AAAA ::1" % MX1]
    srv = dns({REMOTE: zone})
    a = mta("a.ostia.test").use_dns(srv, port)
    a.params.update({"inet_protocols": "all",
                     "smtp_bind_address6": "127.0.0.5"})
    a.start()
    a.send(BOB, message_for(token(), BOB))
    line = a.wait_status(BOB, "deferred").group(0)
    assert "from the local address 127.0.0.5: not an address of the " \
        "server's address family" in line, line
    assert p6.connections == 0


@pytest.mark.parametrize("setting", [None, "dsn", "DSN, silent-discard"])
def test_smtp_discard_ehlo_keywords(mta, peer, dns, port, setting):
    """A server's DSN extension named in smtp_discard_ehlo_keywords is
    not used: the RCPT command goes without NOTIFY=, and the log says
    which keywords were discarded unless silent-discard is among them."""
    p = peer(host="127.0.0.2", port=port, name=MX1)
    srv = dns({REMOTE: mx_zone()})
    a = mta("a.ostia.test").use_dns(srv, port)
    if setting is not None:
        a.params["smtp_discard_ehlo_keywords"] = setting
    a.start()
    tok = token()
    a.send(BOB, message_for(tok, BOB), rcpt_opts=["NOTIFY=SUCCESS,FAILURE"])
    p.wait(lambda s: s.delivered(BOB) == 1, "delivery", diag=a.diag)
    rcpt_line = p.completed()[0]["rcpts"][0][1]
    logged = "discarding EHLO keywords: " in a.o.log_text()
    if setting is None:
        assert "NOTIFY=SUCCESS,FAILURE" in rcpt_line, rcpt_line
        assert not logged
    else:
        assert "NOTIFY" not in rcpt_line, rcpt_line
        if "silent" in setting:
            assert not logged
        else:
            a.wait_log(r"SMTP server %s\[127\.0\.0\.2\]:%d: discarding "
                       r"EHLO keywords: dsn \(smtp_discard_ehlo_keywords\)"
                       % (MX1, port))


def send_local(a, rcpt, body):
    """One message through `ostia sendmail` (local submission keeps
    lines up to line_length_limit, 2048: DATA would refuse them)."""
    import subprocess
    r = subprocess.run([a.o.binary, "-c", a.o.confdir, "sendmail", rcpt],
                       input=body, capture_output=True, timeout=60)
    assert r.returncode == 0, r


@pytest.mark.parametrize("limit", [None, "300", "0"])
def test_smtp_line_length_limit(mta, peer, dns, port, limit):
    """A message line of 2,000 bytes (a local submission): the smtp
    agent sends it as lines of at most smtp_line_length_limit bytes
    (998 by default), each continued with CRLF SP; 0 sends it as it
    is.  Removing the folds gives the line back."""
    p = peer(host="127.0.0.2", port=port, name=MX1)
    srv = dns({REMOTE: mx_zone()})
    a = mta("a.ostia.test").use_dns(srv, port)
    if limit is not None:
        a.params["smtp_line_length_limit"] = limit
    a.start()
    tok = token()
    long_line = ("%s " % tok + "x" * 1999)[:2000].encode()
    send_local(a, BOB, b"Subject: long\n\n" + long_line + b"\nend\n")
    p.wait(lambda s: s.delivered(BOB) == 1, "delivery", diag=a.diag)
    [data] = p.delivered_data(BOB)
    want = {None: 998, "300": 300, "0": None}[limit]
    lines = data.split(b"\r\n")
    if want is None:
        assert long_line in lines, [len(x) for x in lines]
    else:
        assert max(len(x) for x in lines) <= want, \
            [len(x) for x in lines]
        assert data.replace(b"\r\n ", b"").find(long_line) >= 0
        assert len([x for x in lines if x.startswith(b" x")]) >= \
            2000 // want
