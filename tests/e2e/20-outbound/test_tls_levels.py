# SPDX-License-Identifier: MIT
"""Client TLS of the smtp agent, level by level, against B (an Ostia
with a certificate for mx1.remote.test from tls_certs, on
127.0.0.2:PORT, the MX of remote.test) or a scripted peer.

- may: "Untrusted TLS connection established to mx1.remote.test[...]"
  (no CA configured), delivered; a peer without STARTTLS still gets the
  message in clear.
- encrypt against a peer without STARTTLS: deferred, nothing sent.
- verify with smtp_tls_CAfile = the test CA and a matching name:
  "Verified TLS connection established"; secure (match nexthop and
  dot-nexthop) likewise.
- verify against a certificate for another name, or from an unknown
  CA: deferred, with words naming the host and the certificate problem,
  not delivered.
- DANE (RFC 7672): the zone is signed, TLSA 3 1 1 of B's certificate
  (or 2 0 1 of its issuing CA), smtp_dns_support_level = dnssec,
  level dane: "Verified"; a TLSA record that does not match: deferred,
  not delivered; no signed TLSA (zone not signed): opportunistic TLS.
- smtp_tls_policy_maps overriding the global level per domain.
"""

import os
import re

from delivery_e2e import SENDER, settle, token
from outbound_e2e import (REMOTE, b_receiver, message_for, mx_zone,
                          tls_re)

BOB = "bob@" + REMOTE
MX1 = "mx1.remote.test"


def tls_receiver(ostia_factory, certs, port, cert=None, key=None,
                 mailboxes=("bob@" + REMOTE,)):
    b = b_receiver(ostia_factory, mailboxes=mailboxes)
    b.params.update({
        "smtpd_tls_cert_file": cert or certs.leaf_chain,
        "smtpd_tls_key_file": key or certs.leaf_key,
        "smtpd_tls_security_level": "may",
    })
    return b.listen("127.0.0.2", port).start()


def sender(mta, srv, port, **params):
    a = mta("a.ostia.test").use_dns(srv, port)
    a.params.update(params)
    return a.start()


def sent_via_mx1(a, rcpt, port):
    return a.wait_sent(rcpt, MX1, "127.0.0.2", port)


def test_may_untrusted(mta, ostia_factory, dns, certs, port):
    srv = dns({REMOTE: mx_zone()})
    b = tls_receiver(ostia_factory, certs, port)
    a = sender(mta, srv, port, smtp_tls_security_level="may")
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    b.wait_messages(BOB, 1, tok)
    sent_via_mx1(a, BOB, port)
    a.wait_log(tls_re("Untrusted", MX1, "127.0.0.2", port) +
               r" with cipher \S+")


def test_may_without_starttls_sends_in_clear(mta, peer, dns, port):
    p = peer(host="127.0.0.2", port=port, name=MX1)
    srv = dns({REMOTE: mx_zone()})
    a = sender(mta, srv, port, smtp_tls_security_level="may")
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    p.wait(lambda s: s.delivered(BOB) == 1, "delivery in clear",
           diag=a.diag)
    assert p.completed()[0]["tls"] is None
    sent_via_mx1(a, BOB, port)


def test_encrypt_without_starttls_deferred_unsent(mta, peer, dns, port):
    p = peer(host="127.0.0.2", port=port, name=MX1)
    srv = dns({REMOTE: mx_zone()})
    a = sender(mta, srv, port, smtp_tls_security_level="encrypt")
    tok = token()
    qid = a.send(BOB, message_for(tok, BOB))
    line = a.wait_status(BOB, "deferred").group(0)
    assert re.search(r"TLS", line) and re.search(r"not offered|offer|"
                                                  r"STARTTLS", line), line
    assert MX1 in line, "the deferral should name the host: %r" % line
    a.wait_deferred_in_queue(qid, "TLS")
    assert p.connections >= 1, "the peer was never contacted"
    assert not p.transactions, \
        "nothing may be sent without TLS at level encrypt:\n" + p.describe()


def test_verify_trusted_name(mta, ostia_factory, dns, certs, port):
    srv = dns({REMOTE: mx_zone()})
    b = tls_receiver(ostia_factory, certs, port)
    a = sender(mta, srv, port, smtp_tls_security_level="verify",
               smtp_tls_CAfile=certs.ca_bundle)
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    b.wait_messages(BOB, 1, tok)
    sent_via_mx1(a, BOB, port)
    a.wait_log(tls_re("Verified", MX1, "127.0.0.2", port))


def test_secure_dot_nexthop(mta, ostia_factory, dns, certs, port):
    srv = dns({REMOTE: mx_zone()})
    b = tls_receiver(ostia_factory, certs, port)
    a = sender(mta, srv, port, smtp_tls_security_level="secure",
               smtp_tls_CAfile=certs.ca_bundle)
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    b.wait_messages(BOB, 1, tok)
    sent_via_mx1(a, BOB, port)
    a.wait_log(tls_re("Verified", MX1, "127.0.0.2", port))


def _refused_by_verification(a, b, qid, tok):
    line = a.wait_status(BOB, "deferred").group(0)
    assert MX1 in line, "the deferral should name the host: %r" % line
    a.wait_deferred_in_queue(qid)
    settle(2)
    assert not b.messages(BOB), \
        "delivered despite a failed verification:\n" + b.diag()
    a.assert_no_status(BOB, "sent")
    a.assert_no_status(BOB, "bounced")
    return line


def test_verify_name_mismatch_deferred(mta, ostia_factory, dns, certs,
                                       port):
    srv = dns({REMOTE: mx_zone()})
    b = tls_receiver(ostia_factory, certs, port,
                     cert=certs.wrongname_chain, key=certs.wrongname_key)
    a = sender(mta, srv, port, smtp_tls_security_level="verify",
               smtp_tls_CAfile=certs.ca_bundle)
    tok = token()
    qid = a.send(BOB, message_for(tok, BOB))
    line = _refused_by_verification(a, b, qid, tok)
    assert re.search(r"certificate", line, re.I), line
    assert re.search(r"match|name", line, re.I), \
        "the deferral should say the name is wrong: %r" % line


def test_verify_unknown_ca_deferred(mta, ostia_factory, dns, certs, port):
    srv = dns({REMOTE: mx_zone()})
    b = tls_receiver(ostia_factory, certs, port,
                     cert=certs.selfsigned_cert, key=certs.selfsigned_key)
    a = sender(mta, srv, port, smtp_tls_security_level="verify",
               smtp_tls_CAfile=certs.ca_bundle)
    tok = token()
    qid = a.send(BOB, message_for(tok, BOB))
    line = _refused_by_verification(a, b, qid, tok)
    assert re.search(r"certificate", line, re.I), line
    assert re.search(r"trust|verif|issuer|self.signed", line, re.I), line


def _cert_der_sha256(pem_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    import hashlib
    with open(pem_path, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    return hashlib.sha256(cert.public_bytes(
        serialization.Encoding.DER)).hexdigest()


def _openssl_fprint(pem_path, digest="sha256"):
    """The fingerprint as `openssl x509 -fingerprint` prints it: what an
    admin pastes into smtp_tls_fingerprint_cert_match."""
    import subprocess
    out = subprocess.run(["/usr/bin/openssl", "x509", "-noout",
                          "-fingerprint", "-" + digest, "-in", pem_path],
                         check=True, capture_output=True, text=True).stdout
    return out.strip().split("=", 1)[1]


def test_fingerprint_match_verified(mta, ostia_factory, dns, certs, port):
    """Level fingerprint: B's self-signed certificate, pinned by its
    fingerprint (no CA, no name): "Verified", delivered.  The sha1
    digest works the same, and so does a lower-case fingerprint."""
    srv = dns({REMOTE: mx_zone()})
    b = tls_receiver(ostia_factory, certs, port,
                     cert=certs.selfsigned_cert, key=certs.selfsigned_key)
    a = sender(mta, srv, port, smtp_tls_security_level="fingerprint",
               smtp_tls_fingerprint_digest="sha1",
               smtp_tls_fingerprint_cert_match="01:02:03, " +
               _openssl_fprint(certs.selfsigned_cert, "sha1").lower())
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    b.wait_messages(BOB, 1, tok)
    sent_via_mx1(a, BOB, port)
    a.wait_log(tls_re("Verified", MX1, "127.0.0.2", port))


def test_fingerprint_mismatch_deferred(mta, ostia_factory, dns, certs,
                                       port):
    """Level fingerprint with another certificate's fingerprint:
    deferred, not delivered; the reason gives B's fingerprints, so an
    admin who trusts it can copy one."""
    srv = dns({REMOTE: mx_zone()})
    b = tls_receiver(ostia_factory, certs, port)
    a = sender(mta, srv, port, smtp_tls_security_level="fingerprint",
               smtp_tls_fingerprint_cert_match=_openssl_fprint(
                   certs.other_cert))
    tok = token()
    qid = a.send(BOB, message_for(tok, BOB))
    line = _refused_by_verification(a, b, qid, tok)
    want = _openssl_fprint(certs.leaf_cert)
    assert "matches none of the 1 fingerprint of its TLS policy" in line, \
        line
    assert want in line, "the deferral should give B's fingerprint %s: %r" \
        % (want, line)


def test_fingerprint_in_policy_map_by_public_key(mta, ostia_factory, dns,
                                                 certs, port, tmp_path):
    """smtp_tls_policy_maps: "fingerprint match=A|B" ('|' between them,
    as in Postfix), B given by its public key's fingerprint (it survives
    a renewal with the same key)."""
    import subprocess
    pub = subprocess.run(["/usr/bin/openssl", "x509", "-noout", "-pubkey",
                          "-in", certs.leaf_cert], check=True,
                         capture_output=True).stdout
    der = subprocess.run(["/usr/bin/openssl", "pkey", "-pubin", "-outform",
                          "DER"], input=pub, check=True,
                         capture_output=True).stdout
    import hashlib
    pkey = ":".join("%02X" % c for c in hashlib.sha256(der).digest())
    policy = tmp_path / "tls_policy"
    policy.write_text("%s fingerprint match=%s|%s\n" % (
        REMOTE, _openssl_fprint(certs.other_cert), pkey))
    os.chmod(str(policy), 0o644)
    srv = dns({REMOTE: mx_zone()})
    b = tls_receiver(ostia_factory, certs, port)
    a = sender(mta, srv, port, smtp_tls_security_level="may",
               smtp_tls_policy_maps="texthash:%s" % policy)
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    b.wait_messages(BOB, 1, tok)
    sent_via_mx1(a, BOB, port)
    a.wait_log(tls_re("Verified", MX1, "127.0.0.2", port))


def dane_zone(port, tlsa):
    return mx_zone() + ["_%d._tcp.%s. 300 IN TLSA %s" % (port, MX1, tlsa)]


def dane_sender(mta, srv, port):
    assert srv.trust_anchor_file and os.path.exists(srv.trust_anchor_file)
    return sender(mta, srv, port, smtp_dns_support_level="dnssec",
                  smtp_tls_security_level="dane")


def test_dane_ee_match_verified(mta, ostia_factory, dns, certs, port):
    import dns_server
    tlsa = dns_server.tlsa_rdata(certs.leaf_cert, 3, 1, 1)
    srv = dns({}, signed_zones={REMOTE: dane_zone(port, tlsa)})
    b = tls_receiver(ostia_factory, certs, port)
    a = dane_sender(mta, srv, port)
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    b.wait_messages(BOB, 1, tok)
    sent_via_mx1(a, BOB, port)
    a.wait_log(tls_re("Verified", MX1, "127.0.0.2", port))


def test_dane_ta_match_verified(mta, ostia_factory, dns, certs, port):
    # 2 0 1: the issuing (intermediate) CA, which B sends in its chain.
    tlsa = "2 0 1 " + _cert_der_sha256(certs.inter_ca)
    srv = dns({}, signed_zones={REMOTE: dane_zone(port, tlsa)})
    b = tls_receiver(ostia_factory, certs, port)
    a = dane_sender(mta, srv, port)
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    b.wait_messages(BOB, 1, tok)
    sent_via_mx1(a, BOB, port)
    a.wait_log(tls_re("Verified", MX1, "127.0.0.2", port))


def test_dane_mismatch_deferred(mta, ostia_factory, dns, certs, port):
    import dns_server
    # A digest of another key: B's certificate matches no record.
    tlsa = dns_server.tlsa_rdata(certs.other_cert, 3, 1, 1)
    srv = dns({}, signed_zones={REMOTE: dane_zone(port, tlsa)})
    b = tls_receiver(ostia_factory, certs, port)
    a = dane_sender(mta, srv, port)
    tok = token()
    qid = a.send(BOB, message_for(tok, BOB))
    line = _refused_by_verification(a, b, qid, tok)
    assert re.search(r"TLSA|DANE", line), \
        "the deferral should say no TLSA record matched: %r" % line


def test_dane_without_signed_zone_is_opportunistic(mta, ostia_factory, dns,
                                                   certs, port):
    """Level dane, but remote.test is not signed (no usable TLSA): as in
    Postfix, TLS is used when offered, unauthenticated, and the message
    is delivered."""
    import dns_server
    tlsa = dns_server.tlsa_rdata(certs.other_cert, 3, 1, 1)
    # An unsigned zone (with a TLSA record that does not even match, which
    # must be ignored since it is not DNSSEC-validated), plus a signed
    # zone elsewhere so that a trust anchor exists.
    srv = dns({REMOTE: dane_zone(port, tlsa)},
              signed_zones={"signed.test": ["signed.test. 300 IN A "
                                            "127.0.0.9"]})
    b = tls_receiver(ostia_factory, certs, port)
    a = dane_sender(mta, srv, port)
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    b.wait_messages(BOB, 1, tok)
    sent_via_mx1(a, BOB, port)
    a.wait_log(tls_re(r"(?:Untrusted|Anonymous)", MX1, "127.0.0.2", port))
    a.assert_no_status(BOB, "deferred")


def test_policy_maps_override_per_domain(mta, ostia_factory, dns, certs,
                                         port, tmp_path):
    """Global level encrypt; the policy table says: plain.test none
    (sent in clear although B offers TLS), remote.test verify
    (Verified), bad.test verify match=nowhere.test (deferred: the name
    does not match)."""
    zones = {REMOTE: mx_zone(),
             "plain.test": mx_zone("plain.test"),
             "bad.test": mx_zone("bad.test")}
    srv = dns(zones)
    b = tls_receiver(ostia_factory, certs, port,
                     mailboxes=(BOB, "bob@plain.test", "bob@bad.test"))
    a = mta("a.ostia.test").use_dns(srv, port)
    a.params.update({"smtp_tls_security_level": "encrypt",
                     "smtp_tls_CAfile": certs.ca_bundle})
    a.params["smtp_tls_policy_maps"] = a.table("tls_policy", {
        "plain.test": "none",
        REMOTE: "verify",
        "bad.test": "verify match=nowhere.test",
    })
    a.start()
    # plain.test: level none, no TLS.
    tok = token()
    a.send("bob@plain.test", message_for(tok, "bob@plain.test"))
    b.wait_messages("bob@plain.test", 1, tok)
    a.wait_sent("bob@plain.test", MX1, "127.0.0.2", port)
    assert not re.search(r"TLS connection established", a.o.log_text()), \
        "plain.test has level none in the policy table:\n" + a.diag()
    # remote.test: verify.
    mark = a.o.log_mark()
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    b.wait_messages(BOB, 1, tok)
    a.wait_log(tls_re("Verified", MX1, "127.0.0.2", port), start=mark)
    # bad.test: verify with a name the certificate does not have.
    tok = token()
    qid = a.send("bob@bad.test", message_for(tok, "bob@bad.test"))
    line = a.wait_status("bob@bad.test", "deferred").group(0)
    assert re.search(r"certificate", line, re.I), line
    a.wait_deferred_in_queue(qid)
    assert not b.messages("bob@bad.test"), b.diag()
    assert not a.messages(SENDER), a.diag()


def _implicit_tls_receiver(ostia_factory, certs, port):
    """B with implicit TLS only (the submissions service of a provider,
    RFC 8314): a client that does not start TLS at once gets nothing."""
    b = b_receiver(ostia_factory)
    b.params.update({"smtpd_tls_cert_file": certs.leaf_chain,
                     "smtpd_tls_key_file": certs.leaf_key})
    return b.listen("127.0.0.2", port,
                    options=["smtpd_tls_wrappermode=yes"]).start()


def test_wrappermode_relayhost_on_465(mta, ostia_factory, dns, certs,
                                      port):
    """smtp_tls_wrappermode = yes with relayhost = [host]:port (a
    provider's port 465): TLS at once, the greeting inside it, no
    STARTTLS; "Verified" with the CA and the name."""
    srv = dns({REMOTE: mx_zone()})
    b = _implicit_tls_receiver(ostia_factory, certs, port)
    a = sender(mta, srv, port, relayhost="[%s]:%d" % (MX1, port),
               smtp_tls_wrappermode="yes", smtp_tls_security_level="secure",
               smtp_tls_secure_cert_match="hostname",
               smtp_tls_CAfile=certs.ca_bundle)
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    b.wait_messages(BOB, 1, tok)
    a.wait_log(tls_re("Verified", MX1, "127.0.0.2", port))
    assert "STARTTLS" not in b.o.log_text()


def test_wrappermode_needs_tls(mta, ostia_factory, dns, certs, port):
    """smtp_tls_wrappermode = yes at level none: deferred with words
    that say what to set; never plaintext to an implicit-TLS port."""
    srv = dns({REMOTE: mx_zone()})
    b = _implicit_tls_receiver(ostia_factory, certs, port)
    a = sender(mta, srv, port, smtp_tls_wrappermode="yes",
               smtp_tls_security_level="none")
    tok = token()
    qid = a.send(BOB, message_for(tok, BOB))
    line = a.wait_status(BOB, "deferred").group(0)
    assert "smtp_tls_wrappermode = yes, but the TLS security level is " \
        "none (set smtp_tls_security_level = encrypt)" in line, line
    a.wait_deferred_in_queue(qid)
    assert not b.messages(BOB), b.diag()
