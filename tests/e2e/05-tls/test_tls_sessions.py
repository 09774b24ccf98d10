# SPDX-License-Identifier: MIT
"""TLS sessions that work: STARTTLS (RFC 3207) and implicit TLS (RFC
8314), with Python's ssl module, openssl s_client, swaks and curl; what
the server forgets after STARTTLS, the injection defence, the encrypt
level, protocol floors, SNI, ECDSA beside RSA, and resumption across
smtpd processes.
"""

import os
import re
import socket
import ssl
import subprocess
import warnings

import pytest

from ostia_harness import SmtpClient, find_binary
from smtp_e2e import (CLIENT, SIMPLE, SMTPD, assert_queued, expect_reply,
                      queue_show, queued_id, quit_, send_message)


def verifying_ctx(certs, **kw):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=certs.ca_bundle)
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def tls_connect(o, name, ctx, sni="mail.example.test"):
    """Implicit TLS to service `name`; returns an SmtpClient after the
    handshake (the 220 not read yet)."""
    raw = socket.create_connection(("127.0.0.1", o.ports[name]), timeout=5)
    s = ctx.wrap_socket(raw, server_hostname=sni)
    return SmtpClient(s)


def ehlo_keywords(c, name="client.example"):
    c.send_line("EHLO " + name)
    r = expect_reply(c, 250)
    return [l.split()[0].upper() for l in r.lines[1:]]


def starttls(o, certs, name="smtp", ctx=None, sni="mail.example.test"):
    c = o.smtp(name)
    expect_reply(c, 220)
    assert "STARTTLS" in ehlo_keywords(c)
    c.send_line("STARTTLS")
    expect_reply(c, 220, "2.0.0")
    c.starttls(ctx or verifying_ctx(certs), server_hostname=sni)
    return c


def test_starttls_then_mail(tls_server, certs):
    o = tls_server({"smtpd_tls_received_header": "yes"})
    c = starttls(o, certs)
    # Not offered again once TLS is on.
    kws = ehlo_keywords(c)
    assert "STARTTLS" not in kws and "PIPELINING" in kws
    c.send_line("STARTTLS")
    expect_reply(c, 554, "5.5.1")
    qid = send_message(c, SIMPLE)
    quit_(c)
    shown = queue_show(o, qid)
    rcv = shown.message.split(b"\r\n\r\n")[0].decode()
    assert re.search(r"\(using TLSv1\.3 with cipher TLS_\w+ \(\d+/\d+ bits\)\)",
                     rcv), rcv
    assert "with ESMTPS id " + qid in rcv, rcv
    assert shown.get("protocol") in (None, "ESMTPS"), shown.env
    o.wait_for_log(SMTPD + "Anonymous TLS connection established from "
                   + CLIENT + r": TLSv1\.3 with cipher ")
    o.wait_for_log(SMTPD + r"disconnect from .* starttls=1/2 ")


def test_received_header_without_tls_details_by_default(tls_server, certs):
    o = tls_server()
    c = starttls(o, certs)
    ehlo_keywords(c)
    qid = send_message(c, SIMPLE)
    quit_(c)
    head = queue_show(o, qid).message.split(b"\r\n\r\n")[0].decode()
    assert "with ESMTPS id" in head and "(using " not in head, head


def test_implicit_tls(tls_server, certs):
    o = tls_server()
    c = tls_connect(o, "smtps", verifying_ctx(certs))
    expect_reply(c, 220)
    kws = ehlo_keywords(c)
    assert "STARTTLS" not in kws
    c.send_line("STARTTLS")
    expect_reply(c, 554, "5.5.1")
    send_message(c, SIMPLE)
    quit_(c)
    assert len(assert_queued(o, 1)) == 1


def test_no_starttls_when_tls_is_off(ostia_factory):
    o = ostia_factory(main_cf={"smtpd_tls_security_level": "none"})
    o.start_foreground()
    c = o.smtp()
    expect_reply(c, 220)
    assert "STARTTLS" not in ehlo_keywords(c)
    c.send_line("STARTTLS")
    expect_reply(c, 502, "5.5.1")
    quit_(c)


def test_starttls_syntax(tls_server, certs):
    o = tls_server()
    c = o.smtp()
    expect_reply(c, 220)
    ehlo_keywords(c)
    c.send_line("STARTTLS now")
    expect_reply(c, 501, "5.5.4")
    quit_(c)


def test_state_before_starttls_is_forgotten(tls_server, certs):
    o = tls_server({"smtpd_helo_required": "yes"})
    c = o.smtp()
    expect_reply(c, 220)
    ehlo_keywords(c)
    c.send_line("MAIL FROM:<a@example.org>")
    expect_reply(c, 250, "2.1.0")
    c.send_line("STARTTLS")
    expect_reply(c, 220, "2.0.0")
    c.starttls(verifying_ctx(certs), server_hostname="mail.example.test")
    # The EHLO and the MAIL from before TLS are gone.
    c.send_line("MAIL FROM:<a@example.org>")
    expect_reply(c, 503, "5.5.1")
    ehlo_keywords(c)
    c.send_line("RCPT TO:<b@example.net>")
    expect_reply(c, 503, "5.5.1")
    quit_(c)


def test_starttls_injection_discarded(tls_server, certs):
    """Commands sent with STARTTLS in one packet (CVE-2011-0411) are not
    run after the handshake."""
    o = tls_server({"smtpd_forbid_unauth_pipelining": "no"})
    c = o.smtp()
    expect_reply(c, 220)
    ehlo_keywords(c)
    c.send_raw(b"STARTTLS\r\nMAIL FROM:<evil@example.org>\r\n")
    expect_reply(c, 220, "2.0.0")
    c.starttls(verifying_ctx(certs), server_hostname="mail.example.test")
    ehlo_keywords(c)
    # Had MAIL been kept, RCPT would be accepted.
    c.send_line("RCPT TO:<b@example.net>")
    expect_reply(c, 503, "5.5.1")
    quit_(c)
    o.wait_for_log(SMTPD + "warning: " + CLIENT + r" sent 30 bytes after "
                   r"STARTTLS before the TLS handshake: discarded \(a "
                   r"command injection attempt, CVE-2011-0411")


def test_starttls_injection_refused_with_pipelining_check(tls_server, certs):
    o = tls_server({"smtpd_forbid_unauth_pipelining": "yes"})
    c = o.smtp()
    expect_reply(c, 220)
    ehlo_keywords(c)
    c.send_raw(b"STARTTLS\r\nMAIL FROM:<evil@example.org>\r\n")
    expect_reply(c, 554, "5.5.0")
    assert c.wait_closed()
    o.wait_for_log(SMTPD + "improper command pipelining after STARTTLS")


def test_encrypt_level_requires_starttls(tls_server, certs):
    o = tls_server(master_cf="127.0.0.1:@port:smtp@ inet n - n - 1 smtpd\n"
                   "  -o smtpd_tls_security_level=encrypt\n")
    c = o.smtp()
    expect_reply(c, 220)
    assert "STARTTLS" in ehlo_keywords(c)
    c.send_line("MAIL FROM:<a@example.org>")
    expect_reply(c, 530, "5.7.0")
    c.send_line("STARTTLS")
    expect_reply(c, 220, "2.0.0")
    c.starttls(verifying_ctx(certs), server_hostname="mail.example.test")
    ehlo_keywords(c)
    send_message(c, SIMPLE)
    quit_(c)
    o.wait_for_log(SMTPD + r"NOQUEUE: reject: MAIL from " + CLIENT +
                   r": 530 5\.7\.0 Must issue a STARTTLS command first")


def old_client_ctx(maxver):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = maxver
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    return ctx


@pytest.mark.parametrize("floor", ["!SSLv2, !SSLv3, !TLSv1, !TLSv1.1",
                                   ">=TLSv1.2"])
def test_protocol_floor(tls_server, certs, floor):
    o = tls_server(master_cf="127.0.0.1:@port:smtps@ inet n - n - 1 smtpd\n"
                   "  -o smtpd_tls_wrappermode=yes\n"
                   "  -o smtpd_tls_protocols=" + floor.replace(" ", "")
                   + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(ssl.SSLError):
            tls_connect(o, "smtps", old_client_ctx(ssl.TLSVersion.TLSv1_1))
    o.wait_for_log(SMTPD + r"TLS handshake failed on 127\.0\.0\.1:\d+ from "
                   + CLIENT + r": no TLS version in common: the client "
                   r"offered up to TLSv1\.1, this service allows TLSv1\.2, "
                   r"TLSv1\.3")
    # A TLS 1.2 client is fine.
    ctx = verifying_ctx(certs, maximum_version=ssl.TLSVersion.TLSv1_2)
    c = tls_connect(o, "smtps", ctx)
    expect_reply(c, 220)
    assert c.sock.version() == "TLSv1.2"
    quit_(c)


def test_ecdsa_and_rsa_side_by_side(tls_server, certs):
    o = tls_server({"smtpd_tls_eccert_file": certs.ec_leaf_chain,
                    "smtpd_tls_eckey_file": certs.ec_leaf_key})
    for cipher, keytype in (("ECDHE-ECDSA-AES128-GCM-SHA256", "EC"),
                            ("ECDHE-RSA-AES128-GCM-SHA256", "RSA")):
        ctx = verifying_ctx(certs, maximum_version=ssl.TLSVersion.TLSv1_2)
        ctx.set_ciphers(cipher)
        c = tls_connect(o, "smtps", ctx)
        expect_reply(c, 220)
        assert c.sock.cipher()[0] == cipher
        der = c.sock.getpeercert(binary_form=True)
        out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout",
                              "-text"], input=der, capture_output=True,
                             check=True).stdout.decode()
        assert ("id-ecPublicKey" in out) == (keytype == "EC"), out[:400]
        quit_(c)


def sni_table(certs, tmpdir):
    """A key+chain file for other.example.test and a texthash table."""
    combined = os.path.join(tmpdir, "other-key-chain.pem")
    with open(combined, "w") as f:
        f.write(open(certs.other_key).read())
        f.write(open(certs.other_chain).read())
    os.chmod(combined, 0o600)
    table = os.path.join(tmpdir, "sni")
    with open(table, "w") as f:
        f.write("# SNI table\nother.example.test %s\n" % combined)
    return table


def test_sni_two_certificates(tls_server, certs, tmp_path):
    table = sni_table(certs, str(tmp_path))
    o = tls_server({"tls_server_sni_maps": "texthash:" + table})
    for name in ("mail.example.test", "other.example.test"):
        c = tls_connect(o, "smtps", verifying_ctx(certs), sni=name)
        expect_reply(c, 220)
        quit_(c)
    # A name in neither: the default certificate, which then fails the
    # client's name check.
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_connect(o, "smtps", verifying_ctx(certs), sni="third.example.test")


def assert_resumes(o, certs, first, second):
    """A session with service first, TLS 1.2 and 1.3 in turn, gets a
    ticket and resumes with service second."""
    for maxver in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = verifying_ctx(certs, maximum_version=maxver)
        c = tls_connect(o, first, ctx)
        expect_reply(c, 220)    # TLS 1.3 tickets arrive after the handshake
        session = c.sock.session
        quit_(c)
        assert session is not None and session.has_ticket, maxver
        raw = socket.create_connection(("127.0.0.1", o.ports[second]),
                                       timeout=5)
        s = ctx.wrap_socket(raw, server_hostname="mail.example.test",
                            session=session)
        assert s.session_reused, maxver
        c2 = SmtpClient(s)
        expect_reply(c2, 220)
        quit_(c2)


def test_resumption_across_processes(tls_server, certs):
    """Two services are two smtpd processes; a session made with one
    resumes with the other because the master gives both one ticket
    key."""
    o = tls_server(master_cf=(
        "127.0.0.1:@port:a@ inet n - n - 1 smtpd\n"
        "  -o smtpd_tls_wrappermode=yes\n"
        "127.0.0.1:@port:b@ inet n - n - 1 smtpd\n"
        "  -o smtpd_tls_wrappermode=yes\n"))
    assert_resumes(o, certs, "a", "b")
    o.wait_for_log(SMTPD + r"Anonymous TLS connection established from .* "
                   r"\(resumed\)$")


def test_ticket_cipher_aes128_resumes(tls_server, certs):
    """tls_session_ticket_cipher picks the cipher that seals tickets;
    the other usable one resumes as well as the default."""
    o = tls_server({"tls_session_ticket_cipher": "aes-128-cbc"})
    assert_resumes(o, certs, "smtps", "smtps")


@pytest.mark.parametrize("cipher", ["aes-256-wrap", "no-such-cipher"])
def test_unusable_ticket_cipher_is_refused(tls_server, cipher):
    o = tls_server({"tls_session_ticket_cipher": cipher})
    o.wait_for_log(r"TLS cannot start: tls_session_ticket_cipher: "
                   r"\"%s\" is not a usable cipher \(use aes-256-cbc or "
                   r"aes-128-cbc\)" % cipher)


@pytest.mark.parametrize("setting", [{"tls_ssl_options": "NO_TICKET"},
                                     {"smtpd_tls_session_cache_timeout": "0"}])
def test_tickets_can_be_turned_off(tls_server, certs, setting):
    o = tls_server(setting)
    ctx = verifying_ctx(certs)
    c = tls_connect(o, "smtps", ctx)
    expect_reply(c, 220)
    c.send_line("NOOP")         # any TLS 1.3 ticket has come by now
    expect_reply(c, 250)
    session = c.sock.session
    quit_(c)
    assert session is not None and not session.has_ticket


def test_openssl_s_client_starttls(tls_server, certs):
    # s_client sends stdin as soon as it has it: no pipelining check.
    o = tls_server({"smtpd_forbid_unauth_pipelining": "no"})
    r = subprocess.run(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % o.ports["smtp"],
         "-starttls", "smtp", "-CAfile", certs.ca_bundle,
         "-verify_return_error", "-servername", "mail.example.test",
         "-verify_hostname", "mail.example.test", "-ign_eof"],
        input=b"EHLO x\r\nQUIT\r\n", capture_output=True, timeout=30)
    out = r.stdout.decode(errors="replace")
    assert "Verify return code: 0 (ok)" in out, out + r.stderr.decode()
    assert "221 2.0.0 Bye" in out, out


def test_swaks_starttls_and_implicit(tls_server, certs):
    if find_binary("swaks") is None:
        pytest.skip("swaks is not installed")
    probe = subprocess.run(["perl", "-MNet::SSLeay", "-e", "1"],
                           capture_output=True)
    if probe.returncode != 0:
        pytest.skip("swaks cannot do TLS: Net::SSLeay is missing")
    o = tls_server()
    for port, flag in ((o.ports["smtp"], "--tls"),
                       (o.ports["smtps"], "--tlsc")):
        r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port",
                            str(port), flag, "--from", "a@example.org",
                            "--to", "b@example.net", "--helo", "swaks.test"],
                           capture_output=True, timeout=60)
        out = r.stdout.decode(errors="replace")
        assert r.returncode == 0, out
        assert re.search(r"<~  250 2\.0\.0 Ok: queued as [0-9A-Z]{16}", out), out
    assert len(assert_queued(o, 2)) == 2


def test_curl_smtps_and_starttls(tls_server, certs, tmp_path):
    if find_binary("curl") is None:
        pytest.skip("curl is not installed")
    o = tls_server()
    msg = tmp_path / "msg.txt"
    msg.write_bytes(b"Subject: curl\r\n\r\nhello\r\n")
    for url in ("smtps://127.0.0.1:%d" % o.ports["smtps"],
                "smtp://127.0.0.1:%d" % o.ports["smtp"]):
        r = subprocess.run(["curl", "-sS", "--ssl-reqd", "--cacert",
                            certs.ca_bundle, "--resolve",
                            "mail.example.test:%s:127.0.0.1"
                            % url.rsplit(":", 1)[1],
                            url.replace("127.0.0.1", "mail.example.test"),
                            "--mail-from", "a@example.org", "--mail-rcpt",
                            "b@example.net", "-T", str(msg)],
                           capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr.decode()
    assert len(assert_queued(o, 2)) == 2


def test_connection_limit_on_the_implicit_tls_port(tls_server, certs):
    """Over smtpd_client_connection_count_limit on a wrapper-mode port
    the client still gets the handshake, then the 421 where the
    greeting would be; each service counts apart."""
    o = tls_server({"smtpd_client_connection_count_limit": 1,
                    "smtpd_client_event_limit_exceptions": ""})
    first = tls_connect(o, "smtps", verifying_ctx(certs))
    expect_reply(first, 220)
    second = tls_connect(o, "smtps", verifying_ctx(certs))
    r = expect_reply(second, 421, "4.7.0")
    assert r.raw[-1] == ("421 4.7.0 mail.example.test Error: too many "
                         "connections from 127.0.0.1"), r
    second.close()
    plain = o.smtp("smtp")
    expect_reply(plain, 220)
    quit_(plain)
    quit_(first)
    o.wait_for_log(r"warning: Connection concurrency limit exceeded: 2 "
                   r"from unknown\[127\.0\.0\.1\] for service \S+")



class BioTls:
    """TLS over a plain socket through memory BIOs: the first flight
    (the hello) can be sent in the same write as bytes before it."""

    def __init__(self, sock, ctx, sni):
        self.sock = sock
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname=sni)

    def hello(self):
        try:
            self.obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        return self.out.read()

    def _pump(self, op):
        while True:
            try:
                r = op()
                data = self.out.read()
                if data:
                    self.sock.sendall(data)
                return r
            except ssl.SSLWantReadError:
                data = self.out.read()
                if data:
                    self.sock.sendall(data)
                chunk = self.sock.recv(65536)
                assert chunk, "the server closed the connection"
                self.inc.write(chunk)

    def handshake(self):
        self._pump(self.obj.do_handshake)

    def send(self, data):
        self._pump(lambda: self.obj.write(data))

    def reply(self):
        """One whole SMTP reply (its lines)."""
        buf = b""
        while True:
            buf += self._pump(lambda: self.obj.read(65536))
            lines = buf.split(b"\r\n")
            for line in lines[:-1]:
                if line[3:4] == b" ":
                    return [l.decode() for l in lines[:-1]]


def test_implicit_tls_behind_a_proxy(tls_server, certs):
    """smtpd_upstream_proxy_protocol = haproxy on an implicit-TLS port:
    the TLS hello follows the PROXY header in the same write, and smtpd
    takes exactly the header, leaving the hello for the handshake."""
    o = tls_server({"smtpd_upstream_proxy_protocol": "haproxy"})
    raw = socket.create_connection(("127.0.0.1", o.ports["smtps"]),
                                   timeout=10)
    t = BioTls(raw, verifying_ctx(certs), "mail.example.test")
    raw.sendall(b"PROXY TCP4 203.0.113.8 192.0.2.25 40003 465\r\n" +
                t.hello())
    t.handshake()
    assert t.reply()[-1].startswith("220 "), "no greeting"
    t.send(b"EHLO client.example\r\n")
    assert t.reply()[-1].startswith("250 ")
    t.send(b"QUIT\r\n")
    assert t.reply()[-1].startswith("221 ")
    raw.close()
    o.wait_for_log(SMTPD + r"connect from unknown\[203\.0\.113\.8\]")


NEWTLS = {"smtpd_client_new_tls_session_rate_limit": "2",
          "smtpd_client_event_limit_exceptions": "",
          "anvil_rate_time_unit": "3600s"}


def test_new_tls_session_rate_limit_starttls(tls_server, certs):
    """smtpd_client_new_tls_session_rate_limit: past the limit, STARTTLS
    gets 421 4.7.0 and the session ends; the warning starts with
    Postfix's words."""
    o = tls_server(NEWTLS)
    for _ in range(2):
        c = starttls(o, certs)
        ehlo_keywords(c)
        quit_(c)
    c = o.smtp("smtp")
    expect_reply(c, 220)
    ehlo_keywords(c)
    c.send_line("STARTTLS")
    expect_reply(c, 421, "4.7.0", text="too many new TLS sessions from "
                 r"127\.0\.0\.1")
    c.wait_closed()
    o.wait_for_log(r"warning: New TLS session rate limit exceeded: 2 from "
                   r"\S+\[127\.0\.0\.1\] for service .*"
                   r"smtpd_client_new_tls_session_rate_limit = 2")


def test_new_tls_session_rate_limit_implicit_and_resumption(tls_server,
                                                            certs):
    """On the implicit-TLS port a client over the limit is closed before
    the handshake.  Resumed sessions are not counted: after one full
    handshake, three resumptions all pass (with the limit at 2, a count
    of them would stop the third); the next full handshake is the second
    and the connection after it is refused."""
    o = tls_server(NEWTLS)
    ctx = verifying_ctx(certs, maximum_version=ssl.TLSVersion.TLSv1_2)
    c = tls_connect(o, "smtps", ctx)
    expect_reply(c, 220)
    session = c.sock.session
    quit_(c)
    for _ in range(3):
        raw = socket.create_connection(("127.0.0.1", o.ports["smtps"]),
                                       timeout=5)
        s = ctx.wrap_socket(raw, server_hostname="mail.example.test",
                            session=session)
        assert s.session_reused
        c = SmtpClient(s)
        expect_reply(c, 220)
        quit_(c)
    c = tls_connect(o, "smtps", verifying_ctx(certs))   # full: the 2nd
    expect_reply(c, 220)
    quit_(c)
    raw = socket.create_connection(("127.0.0.1", o.ports["smtps"]),
                                   timeout=5)
    try:
        verifying_ctx(certs).wrap_socket(raw,
                                         server_hostname="mail.example.test")
        assert False, "the handshake should not have happened"
    except (ssl.SSLError, OSError):
        pass
    o.wait_for_log(r"connection closed before the TLS handshake "
                   r"\(smtpd_client_new_tls_session_rate_limit\)")
