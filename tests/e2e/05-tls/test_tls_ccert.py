# SPDX-License-Identifier: MIT
"""Client certificates: smtpd_tls_ask_ccert and smtpd_tls_req_ccert,
relaying by certificate (permit_tls_all_clientcerts, and
permit_tls_clientcerts with relay_clientcerts), check_ccert_access, the
log line that says whether a certificate verified and why not, the
Received header, and resumption that never carries a verdict to a
service that would have judged otherwise.

Fingerprints in the tables are made by the openssl command line, as
Postfix's documentation tells admins to make them, so the test checks
that Ostia computes the same thing.
"""

import os
import re
import socket
import ssl
import subprocess

import pytest

from ostia_harness import (SmtpClient, dead_mysql_table, make_ca,
                            self_signed)
from smtp_e2e import (CLIENT, SIMPLE, SMTPD, expect_reply, queue_show,
                      queued_id, quit_, send_data)

OPENSSL = "/usr/bin/openssl"
RELAY_RCPT = "someone@example.net"      # not ours: relaying


class Pki:
    """A client CA with one client certificate, a client certificate
    from a CA the server does not trust, and a self-signed one."""

    def __init__(self, d):
        self.ca = make_ca(os.path.join(d, "ca"), name="Ostia Client CA")
        self.good, self.good_key, _ = self.ca.issue(
            "client.example", eku=("clientAuth",))
        other = make_ca(os.path.join(d, "other"), name="Elsewhere CA")
        self.foreign, self.foreign_key, _ = other.issue(
            "foreign.example", eku=("clientAuth",))
        self.selfsigned, self.selfsigned_key = self_signed(
            os.path.join(d, "self"), "rogue.example")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(str(tmp_path_factory.mktemp("ccert")))


def openssl_fprint(cert, digest="sha256"):
    """The certificate fingerprint as `openssl x509 -fingerprint`
    prints it (what relay_clientcerts lists)."""
    out = subprocess.run([OPENSSL, "x509", "-noout", "-fingerprint",
                          "-" + digest, "-in", cert], check=True,
                         capture_output=True, text=True).stdout
    return out.strip().split("=", 1)[1]


def openssl_pkey_fprint(cert, digest="sha256"):
    """The public key fingerprint: the digest of the DER
    SubjectPublicKeyInfo, in the same notation."""
    pub = subprocess.run([OPENSSL, "x509", "-noout", "-pubkey", "-in",
                          cert], check=True, capture_output=True).stdout
    der = subprocess.run([OPENSSL, "pkey", "-pubin", "-outform", "DER"],
                         input=pub, check=True, capture_output=True).stdout
    out = subprocess.run([OPENSSL, "dgst", "-" + digest, "-c"], input=der,
                         check=True, capture_output=True).stdout
    return out.decode().strip().rsplit("= ", 1)[1].upper()


def client_ctx(certs, cert=None, key=None, maxver=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=certs.ca_bundle)
    if cert is not None:
        ctx.load_cert_chain(cert, key)
    if maxver is not None:
        ctx.maximum_version = maxver
    return ctx


def starttls(o, ctx, name="smtp"):
    c = o.smtp(name)
    expect_reply(c, 220)
    c.send_line("EHLO client.example")
    expect_reply(c, 250)
    c.send_line("STARTTLS")
    expect_reply(c, 220, "2.0.0")
    c.starttls(ctx, server_hostname="mail.example.test")
    c.send_line("EHLO client.example")
    expect_reply(c, 250)
    return c


def implicit(o, ctx, name="smtps", session=None):
    raw = socket.create_connection(("127.0.0.1", o.ports[name]), timeout=5)
    s = ctx.wrap_socket(raw, server_hostname="mail.example.test",
                        session=session)
    return SmtpClient(s)


def relay_reply(c):
    """MAIL, then RCPT to a domain that is not ours: the reply."""
    c.send_line("MAIL FROM:<sender@example.org>")
    expect_reply(c, 250)
    c.send_line("RCPT TO:<%s>" % RELAY_RCPT)
    return c.read_reply()


def relaying(extra=None, restrictions="permit_tls_all_clientcerts, "
             "reject_unauth_destination"):
    """main.cf where only the restrictions under test may permit
    relaying: the loopback client is not in mynetworks."""
    conf = {"mynetworks": "192.0.2.0/24",
            "smtpd_relay_restrictions": restrictions,
            "smtpd_recipient_restrictions": ""}
    conf.update(extra or {})
    return conf


def test_verified_certificate_relays(tls_server, certs, pki):
    """ask_ccert + CAfile: a certificate from that CA is Trusted,
    relays with permit_tls_all_clientcerts, and is named in the log and
    in the Received header; no certificate, or one the CA did not
    issue, is refused relaying."""
    o = tls_server(relaying({"smtpd_tls_ask_ccert": "yes",
                             "smtpd_tls_CAfile": pki.ca.ca_cert,
                             "smtpd_tls_received_header": "yes"}))
    fp = openssl_fprint(pki.good)
    mark = o.log_mark()
    c = starttls(o, client_ctx(certs, pki.good, pki.good_key))
    r = relay_reply(c)
    assert r.code == 250, r
    qid = queued_id(send_data(c, SIMPLE))
    quit_(c)
    o.wait_for_log(SMTPD + r"Trusted TLS connection established from "
                   + CLIENT + r": TLSv1\.3 with cipher \S+ \(\d+/\d+ "
                   r"bits\); client certificate CN \"client\.example\", "
                   r"issuer \"Ostia Client CA\", fingerprint "
                   + re.escape(fp) + "$", start=mark)
    rcv = queue_show(o, qid).message.split(b"\r\n\r\n")[0].decode()
    assert ('(Client CN "client.example", Issuer "Ostia Client CA" '
            '(verified OK))') in rcv, rcv

    for cert, key in ((None, None), (pki.foreign, pki.foreign_key),
                      (pki.selfsigned, pki.selfsigned_key)):
        c = starttls(o, client_ctx(certs, cert, key))
        r = relay_reply(c)
        assert r.code == 554 and "Relay access denied" in r.text, (cert, r)
        quit_(c)
    o.wait_for_log(SMTPD + r"Anonymous TLS connection established from ",
                   start=mark)
    o.wait_for_log(SMTPD + r"Untrusted TLS connection established from .*"
                   r"CN \"foreign\.example\", issuer \"Elsewhere CA\", .*"
                   r"not verified: the CA that issued it is not in "
                   r"smtpd_tls_CAfile or smtpd_tls_CApath", start=mark)
    o.wait_for_log(SMTPD + r"Untrusted TLS connection established from .*"
                   r"CN \"rogue\.example\", .*not verified: it is "
                   r"self-signed", start=mark)


def test_received_header_without_a_certificate(tls_server, certs, pki):
    o = tls_server(relaying({"smtpd_tls_ask_ccert": "yes",
                             "smtpd_tls_CAfile": pki.ca.ca_cert,
                             "smtpd_tls_received_header": "yes",
                             "smtpd_relay_restrictions": "permit"}))
    c = starttls(o, client_ctx(certs))
    assert relay_reply(c).code == 250
    qid = queued_id(send_data(c, SIMPLE))
    quit_(c)
    rcv = queue_show(o, qid).message.split(b"\r\n\r\n")[0].decode()
    assert "(Client did not present a certificate)" in rcv, rcv
    # Self-signed: named, but "not verified".
    c = starttls(o, client_ctx(certs, pki.selfsigned, pki.selfsigned_key))
    assert relay_reply(c).code == 250
    qid = queued_id(send_data(c, SIMPLE))
    quit_(c)
    rcv = queue_show(o, qid).message.split(b"\r\n\r\n")[0].decode()
    assert ('(Client CN "rogue.example", Issuer "rogue.example" '
            '(not verified))') in rcv, rcv


@pytest.mark.parametrize("digest", ["sha256", "sha1"])
def test_permit_tls_clientcerts_by_fingerprint(tls_server, certs, pki,
                                               tmp_path, digest):
    """relay_clientcerts lists the self-signed certificate by its
    fingerprint and the CA-issued one by its public key fingerprint, in
    smtpd_tls_fingerprint_digest: both relay without any CA; a
    certificate that is not listed does not."""
    table = tmp_path / "relay_clientcerts"
    table.write_text("%s rogue\n%s client-by-key\n" % (
        openssl_fprint(pki.selfsigned, digest),
        openssl_pkey_fprint(pki.good, digest)))
    os.chmod(str(table), 0o644)
    o = tls_server(relaying(
        {"smtpd_tls_ask_ccert": "yes",
         "smtpd_tls_fingerprint_digest": digest,
         "relay_clientcerts": "texthash:%s" % table},
        restrictions="permit_tls_clientcerts, reject_unauth_destination"))
    for cert, key, ok in ((pki.selfsigned, pki.selfsigned_key, True),
                          (pki.good, pki.good_key, True),
                          (pki.foreign, pki.foreign_key, False),
                          (None, None, False)):
        c = starttls(o, client_ctx(certs, cert, key))
        r = relay_reply(c)
        assert (r.code == 250) == ok, (cert, r)
        quit_(c)


def test_check_ccert_access(tls_server, certs, pki, tmp_path):
    """check_ccert_access: an access table keyed by fingerprint (REJECT
    with text, OK), looked up by certificate and then by public key."""
    table = tmp_path / "ccert_access"
    table.write_text("%s REJECT certificate withdrawn\n%s OK\n" % (
        openssl_fprint(pki.foreign), openssl_pkey_fprint(pki.selfsigned)))
    os.chmod(str(table), 0o644)
    o = tls_server(relaying(
        {"smtpd_tls_ask_ccert": "yes"},
        restrictions="check_ccert_access texthash:%s, "
        "reject_unauth_destination" % table))
    c = starttls(o, client_ctx(certs, pki.foreign, pki.foreign_key))
    r = relay_reply(c)
    assert r.code == 554 and r.text.startswith(
        "5.7.1 <unknown[127.0.0.1]>: Client certificate rejected: "
        "certificate withdrawn"), r
    quit_(c)
    c = starttls(o, client_ctx(certs, pki.selfsigned, pki.selfsigned_key))
    assert relay_reply(c).code == 250
    quit_(c)
    c = starttls(o, client_ctx(certs, pki.good, pki.good_key))
    r = relay_reply(c)
    assert r.code == 554 and "Relay access denied" in r.text, r
    quit_(c)


def test_relay_clientcerts_lookup_failure_is_temporary(tls_server, certs,
                                                       pki, tmp_path):
    """A relay_clientcerts table that cannot answer: 451 4.3.0, never a
    pass and never a "not listed"; the cause in the log."""
    o = tls_server(relaying(
        {"smtpd_tls_ask_ccert": "yes",
         "relay_clientcerts": dead_mysql_table(tmp_path)},
        restrictions="permit_tls_clientcerts, reject_unauth_destination"))
    mark = o.log_mark()
    c = starttls(o, client_ctx(certs, pki.selfsigned, pki.selfsigned_key))
    c.timeout = 60
    r = relay_reply(c)
    assert r.code == 451 and r.text.startswith("4.3.0 "), r
    quit_(c)
    o.wait_for_log(r"warning: .*permit_tls_clientcerts: relay_clientcerts "
                   r"failed: ", start=mark)


REQ_MASTER = (
    "127.0.0.1:@port:smtp@ inet n - n - 1 smtpd\n"
    "127.0.0.1:@port:smtps@ inet n - n - 1 smtpd\n"
    "  -o smtpd_tls_wrappermode=yes\n"
    "  -o smtpd_tls_req_ccert=yes\n"
    "127.0.0.1:@port:submission@ inet n - n - 1 smtpd\n"
    "  -o smtpd_tls_security_level=encrypt\n"
    "  -o smtpd_tls_req_ccert=yes\n")


@pytest.mark.parametrize("maxver", [ssl.TLSVersion.TLSv1_2,
                                    ssl.TLSVersion.TLSv1_3])
def test_req_ccert_on_implicit_tls(tls_server, certs, pki, maxver):
    """smtpd_tls_req_ccert on the wrapper port: a verified certificate
    gets the greeting; none, or one that does not verify, gets 421 4.7.1
    right after the handshake, and the log says which and why."""
    o = tls_server({"smtpd_tls_CAfile": pki.ca.ca_cert},
                   master_cf=REQ_MASTER)
    mark = o.log_mark()
    c = implicit(o, client_ctx(certs, pki.good, pki.good_key, maxver))
    expect_reply(c, 220)
    quit_(c)
    c = implicit(o, client_ctx(certs, maxver=maxver))
    expect_reply(c, 421, "4.7.1", "client certificate required")
    assert c.wait_closed()
    c.close()
    o.wait_for_log(SMTPD + r"NOQUEUE: abort: TLS from " + CLIENT +
                   r" on 127\.0\.0\.1:\d+: no client certificate "
                   r"presented, and smtpd_tls_req_ccert = yes requires a "
                   r"verified one", start=mark)
    c = implicit(o, client_ctx(certs, pki.foreign, pki.foreign_key, maxver))
    expect_reply(c, 421, "4.7.1", "client certificate not trusted")
    assert c.wait_closed()
    c.close()
    o.wait_for_log(SMTPD + r"NOQUEUE: abort: TLS from .*client certificate "
                   r"CN \"foreign\.example\", issuer \"Elsewhere CA\", "
                   r"fingerprint [0-9A-F:]{95} is not trusted: the CA that "
                   r"issued it is not in smtpd_tls_CAfile", start=mark)


def test_req_ccert_after_starttls(tls_server, certs, pki):
    """With smtpd_tls_security_level = encrypt the 421 comes right after
    the STARTTLS handshake, before any command; where TLS is optional
    the setting is ignored, with a warning at start-up."""
    o = tls_server({"smtpd_tls_CAfile": pki.ca.ca_cert},
                   master_cf=REQ_MASTER + "  -o smtpd_tls_loglevel=0\n"
                   "127.0.0.1:@port:optional@ inet n - n - 1 smtpd\n"
                   "  -o smtpd_tls_req_ccert=yes\n")
    c = o.smtp("submission")
    expect_reply(c, 220)
    c.send_line("EHLO client.example")
    expect_reply(c, 250)
    c.send_line("STARTTLS")
    expect_reply(c, 220, "2.0.0")
    c.starttls(client_ctx(certs), server_hostname="mail.example.test")
    expect_reply(c, 421, "4.7.1", "client certificate required")
    assert c.wait_closed()
    c.close()
    c = starttls(o, client_ctx(certs, pki.good, pki.good_key),
                 name="submission")
    quit_(c)
    o.wait_for_log(r"warning: smtpd_tls_req_ccert = yes is ignored: TLS is "
                   r"optional on this service")
    c = starttls(o, client_ctx(certs), name="optional")
    quit_(c)


def test_resumption_keeps_the_verdict_but_not_across_services(
        tls_server, certs, pki):
    """A resumed session is as trusted as the one it resumes; a ticket
    from a service that asked for no certificate does not resume on one
    that requires a verified certificate (a full handshake instead)."""
    o = tls_server({"smtpd_tls_CAfile": pki.ca.ca_cert},
                   master_cf=REQ_MASTER + "127.0.0.1:@port:plain@ inet n - "
                   "n - 1 smtpd\n  -o smtpd_tls_wrappermode=yes\n")
    mark = o.log_mark()
    for maxver in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = client_ctx(certs, pki.good, pki.good_key, maxver)
        c = implicit(o, ctx)
        expect_reply(c, 220)
        session = c.sock.session
        quit_(c)
        c = implicit(o, ctx, session=session)
        assert c.sock.session_reused, maxver
        expect_reply(c, 220)
        quit_(c)

        c = implicit(o, ctx, name="plain")
        expect_reply(c, 220)
        session = c.sock.session
        quit_(c)
        assert session is not None and session.has_ticket
        c = implicit(o, ctx, session=session)
        assert not c.sock.session_reused, maxver
        expect_reply(c, 220)
        quit_(c)
    o.wait_for_log(SMTPD + r"Trusted TLS connection established from .* "
                   r"\(resumed\); client certificate CN \"client\.example\"",
                   start=mark)


def test_bad_fingerprint_digest_stops_tls(tls_server):
    o = tls_server({"smtpd_tls_fingerprint_digest": "nosuchdigest"})
    o.wait_for_log(r"TLS cannot start: smtpd_tls_fingerprint_digest: "
                   r"\"nosuchdigest\" is not a digest OpenSSL can make "
                   r"fingerprints with")


def test_policy_service_gets_the_certificate(tls_server, certs, pki):
    """check_policy_service requests carry ccert_fingerprint and
    ccert_pubkey_fingerprint of any certificate, and its subject and
    issuer only when it verified."""
    import policy_server
    with policy_server.PolicyServer.start(mode="fixed",
                                          action="DUNNO") as srv:
        o = tls_server(relaying(
            {"smtpd_tls_ask_ccert": "yes",
             "smtpd_tls_CAfile": pki.ca.ca_cert},
            restrictions="check_policy_service %s, permit" % srv.address))
        for cert, key in ((pki.good, pki.good_key),
                          (pki.selfsigned, pki.selfsigned_key), (None, None)):
            c = starttls(o, client_ctx(certs, cert, key))
            assert relay_reply(c).code == 250
            quit_(c)
        reqs = [r for r in srv.requests()
                if r.get("protocol_state") == "RCPT"]
        assert len(reqs) == 3, reqs
        good, rogue, none = reqs
        assert good["ccert_subject"] == "client.example", good
        assert good["ccert_issuer"] == "Ostia Client CA", good
        assert good["ccert_fingerprint"] == openssl_fprint(pki.good)
        assert good["ccert_pubkey_fingerprint"] == \
            openssl_pkey_fprint(pki.good)
        assert rogue["ccert_subject"] == "" and rogue["ccert_issuer"] == ""
        assert rogue["ccert_fingerprint"] == openssl_fprint(pki.selfsigned)
        for k in ("ccert_subject", "ccert_fingerprint",
                  "ccert_pubkey_fingerprint"):
            assert none[k] == "", none


def test_capath_verifies_too(tls_server, certs, pki, tmp_path):
    """smtpd_tls_CApath (a directory prepared with `openssl rehash`)
    verifies client certificates like smtpd_tls_CAfile."""
    d = tmp_path / "capath"
    d.mkdir()
    os.chmod(str(d), 0o755)
    with open(pki.ca.ca_cert) as f:
        (d / "client-ca.pem").write_text(f.read())
    subprocess.run([OPENSSL, "rehash", str(d)], check=True,
                   capture_output=True)
    o = tls_server(relaying({"smtpd_tls_ask_ccert": "yes",
                             "smtpd_tls_CApath": str(d)}))
    c = starttls(o, client_ctx(certs, pki.good, pki.good_key))
    assert relay_reply(c).code == 250
    quit_(c)
    c = starttls(o, client_ctx(certs, pki.foreign, pki.foreign_key))
    assert relay_reply(c).code == 554
    quit_(c)


def test_capath_without_hashed_names_stops_tls(tls_server, tmp_path):
    d = tmp_path / "notrehashed"
    d.mkdir()
    (d / "ca.pem").write_text("not hashed\n")
    o = tls_server({"smtpd_tls_ask_ccert": "yes", "smtpd_tls_CApath": str(d)})
    o.wait_for_log(r"TLS cannot start: smtpd_tls_CApath = %s: no CA "
                   r"certificate under a hashed name \(run `openssl rehash "
                   % re.escape(str(d)))
