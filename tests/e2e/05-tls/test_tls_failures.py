# SPDX-License-Identifier: MIT
"""Failed handshakes, each reproduced and its one log line asserted:
what the client did, the reason in plain words and what to do.  The
seed deployment's case first: a client that verifies against another
CA rejects our certificate, and the log says so and why.
"""

import os
import socket
import ssl
import time
import warnings

import pytest

from ostia_harness import SmtpClient
from smtp_e2e import CLIENT, SMTPD, expect_reply, quit_

FAILED = (SMTPD + r"TLS handshake failed on (?:service \S+ \()?"
          r"127\.0\.0\.1:\d+\)? from " + CLIENT + ": ")


def client_ctx(cafile=None, maxver=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile=cafile)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if maxver:
        ctx.maximum_version = maxver
    return ctx


def handshake(o, ctx, sni="mail.example.test", name="smtps"):
    raw = socket.create_connection(("127.0.0.1", o.ports[name]), timeout=5)
    try:
        return ctx.wrap_socket(raw, server_hostname=sni)
    except (ssl.SSLError, OSError):
        raw.close()
        raise


def server_with(tls_server, certs, cert, key, **more):
    conf = {"smtpd_tls_cert_file": cert, "smtpd_tls_key_file": key}
    conf.update(more)
    return tls_server(conf)


def other_ca(tmp_path):
    """A CA file the client trusts that did not sign our certificate."""
    import tls_certs
    d = str(tmp_path / "other")
    os.makedirs(d)
    return tls_certs.make_certs(d).selfsigned_cert


# ------------------------------------------------ the client refuses us

def test_self_signed_rejected_by_verifying_client(tls_server, certs):
    """The seed's case: some clients refuse a self-signed certificate."""
    o = server_with(tls_server, certs, certs.selfsigned_cert,
                    certs.selfsigned_key)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(o, client_ctx(certs.ca_bundle))
    o.wait_for_log(FAILED + r"the client rejected our certificate \(it sent "
                   r"the alert \"unknown CA\"\): our certificate is "
                   r"self-signed .*clients that verify certificates .*"
                   r"'unknown ca'")
    # A client that does not verify (Outlook-like) gets through.
    s = handshake(o, client_ctx())
    c = SmtpClient(s)
    expect_reply(c, 220)
    quit_(c)


def test_client_trusting_another_ca(tls_server, certs, tmp_path):
    o = tls_server({"smtpd_tls_CAfile": certs.ca_bundle})
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(o, client_ctx(other_ca(tmp_path)))
    o.wait_for_log(FAILED + r"the client rejected our certificate \(it sent "
                   r"the alert \"unknown CA\"\): .*smtpd_tls_CAfile")


def test_missing_intermediate(tls_server, certs):
    o = server_with(tls_server, certs, certs.leaf_cert, certs.leaf_key)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(o, client_ctx(certs.ca_bundle))
    o.wait_for_log(FAILED + r"the client rejected our certificate \(it sent "
                   r"the alert \"unknown CA\"\): .*intermediate")


def test_expired_certificate(tls_server, certs):
    o = server_with(tls_server, certs, certs.expired_chain, certs.expired_key)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(o, client_ctx(certs.ca_bundle))
    o.wait_for_log(FAILED + r"the client rejected our certificate \(it sent "
                   r"the alert \"certificate expired\"\): .*expired")


def test_name_not_in_certificate(tls_server, certs):
    o = server_with(tls_server, certs, certs.wrongname_chain,
                    certs.wrongname_key)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(o, client_ctx(certs.ca_bundle))
    o.wait_for_log(FAILED + r"the client rejected our certificate \(it sent "
                   r"the alert \"[a-z ]+\"\): the client asked for "
                   r"mail\.example\.test \(SNI\) but our certificate "
                   r"\(smtpd_tls_cert_file\) names only other\.example\.test"
                   r".*\[client offered .*SNI mail\.example\.test")


def test_client_closes_after_our_certificate(tls_server, certs):
    """A client that hangs up silently when it sees the certificate."""
    o = server_with(tls_server, certs, certs.selfsigned_cert,
                    certs.selfsigned_key)
    ctx = client_ctx(maxver=ssl.TLSVersion.TLSv1_2)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="mail.example.test")
    sock = socket.create_connection(("127.0.0.1", o.ports["smtps"]),
                                    timeout=5)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    sock.sendall(out.read())
    got = b""
    deadline = time.time() + 5
    while len(got) < 1000 and time.time() < deadline:
        got += sock.recv(65536)
    sock.close()
    o.wait_for_log(FAILED + r"the client closed the connection after it "
                   r"received our certificate, without saying why: most "
                   r"likely it does not accept the certificate: our "
                   r"certificate is self-signed")


# ------------------------------------------------ not TLS at all

def test_plaintext_smtp_on_implicit_tls_port(tls_server, certs):
    o = tls_server()
    s = socket.create_connection(("127.0.0.1", o.ports["smtps"]), timeout=5)
    s.sendall(b"EHLO client.example\r\n")
    reply = s.recv(1000)
    s.close()
    assert reply.startswith(b"421 4.7.0 This port requires TLS"), reply
    o.wait_for_log(FAILED + r"the client spoke plaintext SMTP \(\"EHLO "
                   r"client\.example\"\) to this implicit-TLS "
                   r"port: set the client to SSL/TLS for this port, or to "
                   r"STARTTLS on port 587")


def test_silent_client_on_implicit_tls_port(tls_server, certs):
    """A client set to STARTTLS waits for a greeting that never comes."""
    o = tls_server({"smtpd_starttls_timeout": "1s"})
    s = socket.create_connection(("127.0.0.1", o.ports["smtps"]), timeout=5)
    assert s.recv(100) == b""       # closed by the server, nothing sent
    s.close()
    o.wait_for_log(FAILED + r"the client sent nothing for 1s on this "
                   r"implicit-TLS port: it probably waits for a plaintext "
                   r"greeting")


def test_http_request_on_tls_port(tls_server, certs):
    o = tls_server()
    s = socket.create_connection(("127.0.0.1", o.ports["smtps"]), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert s.recv(100) == b""
    s.close()
    o.wait_for_log(FAILED + r"the client sent an HTTP request \(\"GET / "
                   r"HTTP/1\.1\"\), not a TLS hello: a web browser or a "
                   r"scanner")


def test_other_bytes_on_tls_port(tls_server, certs):
    o = tls_server()
    s = socket.create_connection(("127.0.0.1", o.ports["smtps"]), timeout=5)
    s.sendall(b"\x00\x01\x02garbage")
    assert s.recv(100) == b""
    s.close()
    o.wait_for_log(FAILED + r"the client sent bytes that are not TLS "
                   r"\(\"\\000\\001\\002garbage\"\): it does not speak TLS "
                   r"on this port")


def test_plaintext_after_starttls(tls_server, certs):
    o = tls_server({"smtpd_forbid_unauth_pipelining": "no"})
    c = o.smtp()
    expect_reply(c, 220)
    c.send_line("EHLO x")
    expect_reply(c, 250)
    c.send_line("STARTTLS")
    expect_reply(c, 220, "2.0.0")
    c.send_line("MAIL FROM:<a@example.org>")
    assert c.wait_closed()
    o.wait_for_log(FAILED + r"after our 220 to STARTTLS the client went on "
                   r"in plaintext")


def test_closed_before_tls(tls_server, certs):
    o = tls_server()
    socket.create_connection(("127.0.0.1", o.ports["smtps"]), timeout=5).close()
    o.wait_for_log(FAILED + r"the client closed the connection before "
                   r"starting TLS \(a port scanner")


def partial_hello(ctx):
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="mail.example.test")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return out.read()


def test_closed_in_the_middle_of_the_hello(tls_server, certs):
    o = tls_server()
    hello = partial_hello(client_ctx())
    s = socket.create_connection(("127.0.0.1", o.ports["smtps"]), timeout=5)
    s.sendall(hello[:20])
    time.sleep(0.2)
    s.close()
    o.wait_for_log(FAILED + r"the client closed the connection in the middle "
                   r"of its TLS hello")


def test_handshake_timeout(tls_server, certs):
    o = tls_server({"smtpd_starttls_timeout": "1s"})
    hello = partial_hello(client_ctx())
    s = socket.create_connection(("127.0.0.1", o.ports["smtps"]), timeout=5)
    s.sendall(hello[:20])
    assert s.recv(100) == b""
    s.close()
    o.wait_for_log(FAILED + r"handshake timeout after 1s: the client stopped "
                   r"answering in the middle of its TLS hello")


# ------------------------------------------------ nothing in common

def test_no_common_version(tls_server, certs):
    o = tls_server({"smtpd_tls_protocols": ">=TLSv1.3"})
    with pytest.raises(ssl.SSLError):
        handshake(o, client_ctx(maxver=ssl.TLSVersion.TLSv1_2))
    o.wait_for_log(FAILED + r"no TLS version in common: the client offered "
                   r"up to TLSv1\.2, this service allows TLSv1\.3: ")


def test_old_client_without_tls12(tls_server, certs):
    """TLS 1.0/1.1 allowed by the setting, but they need SHA-1."""
    o = tls_server()
    ctx = client_ctx()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    with pytest.raises(ssl.SSLError):
        handshake(o, ctx)
    o.wait_for_log(FAILED + r"the client offered only up to TLSv1\.1, and "
                   r"those versions sign with SHA-1")


def test_no_shared_cipher(tls_server, certs):
    o = tls_server({"smtpd_tls_exclude_ciphers": "AESGCM"})
    ctx = client_ctx(maxver=ssl.TLSVersion.TLSv1_2)
    ctx.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256")
    with pytest.raises(ssl.SSLError):
        handshake(o, ctx)
    o.wait_for_log(FAILED + r"no cipher in common: the client offered "
                   r"ECDHE-RSA-AES128-GCM-SHA256; none is allowed")


# ------------------------------------------------ log detail

def test_raw_openssl_error_only_at_higher_loglevel(tls_server, certs):
    o = tls_server({"smtpd_tls_protocols": ">=TLSv1.3",
                    "smtpd_tls_loglevel": "0"})
    with pytest.raises(ssl.SSLError):
        handshake(o, client_ctx(maxver=ssl.TLSVersion.TLSv1_2))
    o.wait_for_log(FAILED + r"no TLS version in common")
    o.assert_not_in_log(r"OpenSSL: ")
    o.assert_not_in_log(r"Anonymous TLS connection")
    o2 = tls_server({"smtpd_tls_protocols": ">=TLSv1.3",
                     "smtpd_tls_loglevel": "2"})
    with pytest.raises(ssl.SSLError):
        handshake(o2, client_ctx(maxver=ssl.TLSVersion.TLSv1_2))
    o2.wait_for_log(FAILED + r"no TLS version in common.*; OpenSSL: "
                    r"error:[0-9A-F]+:SSL routines::unsupported protocol")


# ------------------------------------------------ start-up

def test_key_that_does_not_match_stops_the_service(ostia_factory, certs):
    o = ostia_factory(main_cf={"smtpd_tls_cert_file": certs.leaf_chain,
                               "smtpd_tls_key_file": certs.mismatched_key,
                               "smtpd_tls_security_level": "may"})
    o.start_foreground()
    o.wait_for_log(r"fatal: service 127\.0\.0\.1:\d+: TLS cannot start: the "
                   r"private key in %s does not match the certificate in %s"
                   % (certs.mismatched_key, certs.leaf_chain))


def test_tls_on_without_certificate(ostia_factory, certs):
    o = ostia_factory(main_cf={"smtpd_tls_security_level": "may"})
    o.start_foreground()
    o.wait_for_log(r"TLS cannot start: TLS is on .* but no certificate is "
                   r"configured")
