# SPDX-License-Identifier: MIT
"""SMTP AUTH (RFC 4954) with Ostia's own backend: PLAIN and LOGIN, with
and without initial responses, wrong passwords, cancel, malformed
input, AUTH before TLS, the error limits, a backend that cannot answer,
and real clients (smtplib, swaks, curl).  The password check runs in
the lookup process against SHA512-CRYPT hashes.
"""

import base64
import os
import smtplib
import socket
import ssl
import subprocess

import pytest

from auth_users import USERS
from ostia_harness import SmtpClient, find_binary
from smtp_e2e import (CLIENT, SIMPLE, SMTPD, expect_reply, queue_show,
                      queued_id, quit_, send_data, start_mail)

ALICE = "alice@example.org"


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def plain(user, password, authzid=""):
    return b64(("%s\0%s\0%s" % (authzid, user, password)).encode())


def tls_ctx(accounts):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=accounts.certs.ca_bundle)
    return ctx


def ehlo(c):
    c.send_line("EHLO client.example")
    r = expect_reply(c, 250)
    return [l for l in r.lines[1:]]


def secure(o, accounts, name="smtps"):
    """A session on the implicit-TLS service, after EHLO."""
    raw = socket.create_connection(("127.0.0.1", o.ports[name]), timeout=5)
    c = SmtpClient(tls_ctx(accounts).wrap_socket(
        raw, server_hostname="mail.example.test"))
    expect_reply(c, 220)
    kws = ehlo(c)
    return c, kws


def dead_mysql_table(tmp_path):
    """A mysql: table whose only host is a closed loopback port."""
    cf = tmp_path / "dead.cf"
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    cf.write_text("hosts = inet:127.0.0.1:%d\nuser = u\npassword = secret\n"
                  "dbname = d\nquery = SELECT x FROM t WHERE k='%%s'\n"
                  % port)
    os.chmod(str(cf), 0o644)
    os.chmod(str(tmp_path), 0o755)
    return "mysql:%s" % cf


def test_auth_only_after_tls(auth_server, accounts):
    o = auth_server()
    c = o.smtp()
    expect_reply(c, 220)
    assert not any(k.startswith("AUTH") for k in ehlo(c))
    c.send_line("AUTH PLAIN " + plain(ALICE, USERS[ALICE]))
    expect_reply(c, 538, "5.7.11")
    c.send_line("STARTTLS")
    expect_reply(c, 220)
    c.starttls(tls_ctx(accounts), server_hostname="mail.example.test")
    assert "AUTH PLAIN LOGIN" in ehlo(c)
    c.send_line("AUTH PLAIN " + plain(ALICE, USERS[ALICE]))
    expect_reply(c, 235, "2.7.0")
    quit_(c)


def test_plain_initial_response_and_mail(auth_server, accounts):
    o = auth_server({"smtpd_sasl_authenticated_header": "yes"})
    c, kws = secure(o, accounts)
    assert "AUTH PLAIN LOGIN" in kws
    c.send_line("AUTH PLAIN " + plain(ALICE, USERS[ALICE]))
    expect_reply(c, 235, "2.7.0")
    c.send_line("AUTH PLAIN " + plain(ALICE, USERS[ALICE]))
    expect_reply(c, 503, "5.5.1")       # already authenticated
    start_mail(c, sender=ALICE)
    qid = queued_id(send_data(c, SIMPLE))
    quit_(c)
    head = queue_show(o, qid).message.split(b"\r\n\r\n")[0].decode()
    assert "(Authenticated sender: %s)" % ALICE in head, head
    o.wait_for_log(SMTPD + qid + ": client=" + CLIENT +
                   r", sasl_method=PLAIN, sasl_username=alice@example\.org$")
    o.assert_not_in_log(USERS[ALICE])


def test_plain_without_initial_response(auth_server, accounts):
    o = auth_server()
    c, _ = secure(o, accounts)
    c.send_line("AUTH PLAIN")
    r = expect_reply(c, 334)
    assert r.lines[-1] == ""
    c.send_line(plain("bob@example.org", USERS["bob@example.org"]))
    expect_reply(c, 235, "2.7.0")
    quit_(c)


def test_login_two_steps(auth_server, accounts):
    o = auth_server()
    c, _ = secure(o, accounts)
    c.send_line("AUTH LOGIN")
    r = expect_reply(c, 334)
    assert base64.b64decode(r.lines[-1]) == b"Username:"
    c.send_line(b64(ALICE))
    r = expect_reply(c, 334)
    assert base64.b64decode(r.lines[-1]) == b"Password:"
    c.send_line(b64(USERS[ALICE]))
    expect_reply(c, 235, "2.7.0")
    quit_(c)


def test_login_with_initial_user(auth_server, accounts):
    o = auth_server()
    c, _ = secure(o, accounts)
    c.send_line("AUTH LOGIN " + b64(ALICE))
    r = expect_reply(c, 334)
    assert base64.b64decode(r.lines[-1]) == b"Password:"
    c.send_line(b64("wrong"))
    expect_reply(c, 535, "5.7.8")
    quit_(c)


@pytest.mark.parametrize("user,password", [
    (ALICE, "wrong password"),
    ("nobody@example.org", "anything"),
    (ALICE, ""),
])
def test_wrong_credentials(auth_server, accounts, user, password):
    o = auth_server()
    c, _ = secure(o, accounts)
    c.send_line("AUTH PLAIN " + plain(user, password))
    expect_reply(c, 535, "5.7.8")
    # The session goes on, still unauthenticated.
    c.send_line("NOOP")
    expect_reply(c, 250)
    quit_(c)
    o.wait_for_log(SMTPD + "warning: " + CLIENT + r": SASL PLAIN "
                   r"authentication failed: authentication failure, "
                   r"sasl_username=" + user.replace(".", r"\."))
    if password:
        o.assert_not_in_log(password)


def test_authzid_other_user_refused(auth_server, accounts):
    o = auth_server()
    c, _ = secure(o, accounts)
    c.send_line("AUTH PLAIN " + plain(ALICE, USERS[ALICE],
                                      authzid="bob@example.org"))
    expect_reply(c, 535, "5.7.8")
    quit_(c)


def test_cancel_and_malformed(auth_server, accounts):
    o = auth_server()
    c, _ = secure(o, accounts)
    c.send_line("AUTH LOGIN")
    expect_reply(c, 334)
    c.send_line("*")
    expect_reply(c, 501, "5.7.0")
    c.send_line("AUTH PLAIN not*base64")
    expect_reply(c, 501, "5.5.2")
    c.send_line("AUTH PLAIN")
    expect_reply(c, 334)
    c.send_line("Zg=")
    expect_reply(c, 501, "5.5.2")
    c.send_line("AUTH CRAM-MD5")
    expect_reply(c, 504, "5.5.4")
    c.send_line("AUTH")
    expect_reply(c, 501, "5.5.4")
    c.send_line("AUTH PLAIN " + b64(b"no-nul-bytes"))
    expect_reply(c, 535, "5.7.8")
    # Still usable afterwards.
    c.send_line("AUTH PLAIN " + plain(ALICE, USERS[ALICE]))
    expect_reply(c, 235)
    quit_(c)


def test_auth_inside_transaction_refused(auth_server, accounts):
    o = auth_server()
    c, _ = secure(o, accounts)
    c.send_line("MAIL FROM:<x@example.org>")
    expect_reply(c, 250)
    c.send_line("AUTH PLAIN " + plain(ALICE, USERS[ALICE]))
    expect_reply(c, 503, "5.5.1")
    quit_(c)


def test_long_auth_line_accepted_other_long_lines_not(auth_server, accounts):
    """RFC 4954 4: AUTH lines may pass 512 octets; others may not."""
    o = auth_server()
    c, _ = secure(o, accounts)
    c.send_line("AUTH PLAIN " + plain(ALICE, "x" * 600))
    expect_reply(c, 535, "5.7.8")
    c.send_line("NOOP " + "x" * 600)
    expect_reply(c, 500, "5.5.2")
    quit_(c)


def test_repeated_failures_end_the_session(auth_server, accounts):
    o = auth_server({"smtpd_soft_error_limit": "2",
                     "smtpd_hard_error_limit": "4",
                     "smtpd_error_sleep_time": "0"})
    c, _ = secure(o, accounts)
    for _ in range(3):
        c.send_line("AUTH PLAIN " + plain(ALICE, "guess"))
        expect_reply(c, 535, "5.7.8")
    c.send_line("AUTH PLAIN " + plain(ALICE, "guess"))
    expect_reply(c, 535, "5.7.8")
    expect_reply(c, 421, "4.7.0")
    assert c.wait_closed()
    o.wait_for_log(SMTPD + "too many errors after AUTH from " + CLIENT)


def test_backend_down_is_temporary(auth_server, accounts, tmp_path):
    """A password table that cannot answer: 454, never 535."""
    o = auth_server({"smtpd_sasl_password_maps": dead_mysql_table(tmp_path)})
    c, _ = secure(o, accounts)
    c.send_line("AUTH PLAIN " + plain(ALICE, USERS[ALICE]))
    expect_reply(c, 454, "4.7.0", timeout=30)
    quit_(c)
    o.wait_for_log(SMTPD + "warning: " + CLIENT + r": cannot check a "
                   r"password: .*cannot connect to any host")


def test_noplaintext_until_tls(auth_server, accounts):
    o = auth_server({"smtpd_sasl_security_options": "noanonymous, noplaintext",
                     "smtpd_sasl_tls_security_options": "noanonymous"},
                    master_cf="127.0.0.1:@port:smtp@ inet n - n - 1 smtpd\n")
    c = o.smtp()
    expect_reply(c, 220)
    assert not any(k.startswith("AUTH") for k in ehlo(c))
    c.send_line("AUTH PLAIN " + plain(ALICE, USERS[ALICE]))
    expect_reply(c, 504, "5.5.4")
    c.send_line("STARTTLS")
    expect_reply(c, 220)
    c.starttls(tls_ctx(accounts), server_hostname="mail.example.test")
    assert "AUTH PLAIN LOGIN" in ehlo(c)
    quit_(c)


def test_broken_sasl_auth_clients_line(auth_server, accounts):
    o = auth_server({"broken_sasl_auth_clients": "yes"})
    c, kws = secure(o, accounts)
    assert "AUTH PLAIN LOGIN" in kws and "AUTH=PLAIN LOGIN" in kws
    quit_(c)


@pytest.mark.parametrize("exceptions,offered", [
    ("127.0.0.0/8", False),         # the client: not offered
    ("10.0.0.0/8", True),           # another network: offered
    ("$mynetworks", False),         # the client is in mynetworks
])
def test_sasl_exceptions_networks(auth_server, accounts, exceptions,
                                  offered):
    """smtpd_sasl_exceptions_networks: EHLO does not offer AUTH to those
    clients (Postfix: for clients that break on it); a client that sends
    AUTH anyway is still served."""
    o = auth_server({"smtpd_sasl_exceptions_networks": exceptions,
                     "mynetworks": "127.0.0.0/8"})
    c, kws = secure(o, accounts)
    assert any(k.startswith("AUTH ") for k in kws) == offered, kws
    c.send_line("AUTH PLAIN " + plain(ALICE, USERS[ALICE]))
    expect_reply(c, 235, "2.7.0")
    quit_(c)


def test_auth_disabled(auth_server, accounts):
    o = auth_server({"smtpd_sasl_auth_enable": "no"})
    c, kws = secure(o, accounts)
    assert not any(k.startswith("AUTH") for k in kws)
    c.send_line("AUTH PLAIN " + plain(ALICE, USERS[ALICE]))
    expect_reply(c, 503, "5.5.1")
    quit_(c)


def test_smtplib_login(auth_server, accounts):
    o = auth_server()
    # The certificate also names 127.0.0.1.
    with smtplib.SMTP_SSL("127.0.0.1", o.ports["smtps"],
                          context=tls_ctx(accounts)) as s:
        # smtplib encodes passwords as ASCII: alice's is.
        s.login(ALICE, USERS[ALICE])
        s.sendmail(ALICE, ["x@example.net"], SIMPLE)
    with smtplib.SMTP("127.0.0.1", o.ports["smtp"]) as s:
        s.starttls(context=tls_ctx(accounts))
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login(ALICE, "not it")
        assert e.value.smtp_code == 535


def test_swaks_and_curl(auth_server, accounts, tmp_path):
    o = auth_server()
    ran = 0
    if find_binary("swaks") is not None:
        for mech in ("PLAIN", "LOGIN"):
            r = subprocess.run(
                ["swaks", "--server", "127.0.0.1", "--port",
                 str(o.ports["smtp"]), "--tls", "--auth", mech,
                 "--auth-user", ALICE, "--auth-password", USERS[ALICE],
                 "--from", ALICE, "--to", "x@example.net"],
                capture_output=True, timeout=60)
            out = r.stdout.decode(errors="replace")
            assert r.returncode == 0, out
            assert "235 2.7.0 Authentication successful" in out, out
            ran += 1
    if find_binary("curl") is not None:
        msg = tmp_path / "m.txt"
        msg.write_bytes(SIMPLE)
        r = subprocess.run(
            ["curl", "-sS", "--cacert", accounts.certs.ca_bundle,
             "--resolve", "mail.example.test:%d:127.0.0.1" % o.ports["smtps"],
             "smtps://mail.example.test:%d" % o.ports["smtps"],
             "--user", "%s:%s" % (ALICE, USERS[ALICE]),
             "--mail-from", ALICE, "--mail-rcpt", "x@example.net",
             "-T", str(msg)], capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr.decode()
        ran += 1
    if ran == 0:
        pytest.skip("neither swaks nor curl is installed")


# ---------------------------------------------------------------- sender ownership

def sender_table(tmp_path):
    t = tmp_path / "sender_logins"
    t.write_text("alice@example.org alice@example.org\n"
                 "bob@example.org bob@example.org\n"
                 "sales@example.org alice@example.org, bob@example.org\n"
                 "@shared.example alice@example.org\n")
    os.chmod(str(t), 0o644)
    os.chmod(str(tmp_path), 0o755)
    return "texthash:%s" % t


@pytest.mark.parametrize("restriction", [
    "reject_sender_login_mismatch",
    "reject_sender_login_mismatch, permit_sasl_authenticated",
    # 127.0.0.1 is not in this mynetworks: the permit does not apply.
    "permit_mynetworks, reject_sender_login_mismatch"])
def test_sender_login_maps(auth_server, accounts, tmp_path, restriction):
    o = auth_server({"smtpd_sender_login_maps": sender_table(tmp_path),
                     "smtpd_sender_restrictions": restriction,
                     "mynetworks": "192.0.2.0/24"})
    # Not logged in: addresses that belong to someone are refused.
    c, _ = secure(o, accounts)
    for sender, code in (("alice@example.org", 553),
                         ("x@shared.example", 553),
                         ("stranger@else.example", 250), ("", 250)):
        c.send_line("MAIL FROM:<%s>" % sender)
        r = expect_reply(c, code)
        if code == 553:
            assert r.lines[-1] == ("5.7.1 <%s>: Sender address rejected: "
                                   "not logged in" % sender), r
        else:
            c.send_line("RSET")
            expect_reply(c, 250)
    # Logged in as alice: hers, the shared ones and the domain catch-all.
    c.send_line("AUTH PLAIN " + plain(ALICE, USERS[ALICE]))
    expect_reply(c, 235)
    for sender, code in (("alice@example.org", 250), ("Sales@Example.org", 250),
                         ("x@shared.example", 250), ("bob@example.org", 553),
                         ("stranger@else.example", 553), ("", 250)):
        c.send_line("MAIL FROM:<%s>" % sender)
        r = expect_reply(c, code)
        if code == 553:
            assert r.lines[-1] == ("5.7.1 <%s>: Sender address rejected: "
                                   "not owned by user alice@example.org"
                                   % sender), r
        else:
            c.send_line("RSET")
            expect_reply(c, 250)
    quit_(c)
    o.wait_for_log(SMTPD + r"NOQUEUE: reject: MAIL from " + CLIENT +
                   r": 553 5\.7\.1 <bob@example\.org>: Sender address "
                   r"rejected: not owned by user alice@example\.org;")


@pytest.mark.parametrize("restriction,mynetworks", [
    ("permit_mynetworks, reject_sender_login_mismatch", "127.0.0.0/8"),
    ("permit_mynetworks, reject_sender_login_mismatch", None),
    ("permit_sasl_authenticated, reject_sender_login_mismatch", None)])
def test_sender_login_permit_first(auth_server, accounts, tmp_path,
                                   restriction, mynetworks):
    """A permit ahead of the check ends the list, as in Postfix (the
    seed: permit_mynetworks, reject_sender_login_mismatch, ...)."""
    o = auth_server({"smtpd_sender_login_maps": sender_table(tmp_path),
                     "smtpd_sender_restrictions": restriction,
                     "mynetworks": mynetworks})
    c, _ = secure(o, accounts)
    c.send_line("AUTH PLAIN " + plain(ALICE, USERS[ALICE]))
    expect_reply(c, 235)
    c.send_line("MAIL FROM:<bob@example.org>")
    expect_reply(c, 250)
    quit_(c)
    if restriction.startswith("permit_mynetworks"):
        # Not logged in, from mynetworks: also permitted.
        c, _ = secure(o, accounts)
        c.send_line("MAIL FROM:<alice@example.org>")
        expect_reply(c, 250)
        quit_(c)


def test_sender_login_lookup_failure_is_temporary(auth_server, accounts,
                                                  tmp_path):
    o = auth_server({"smtpd_sender_login_maps": dead_mysql_table(tmp_path),
                     "smtpd_sender_restrictions":
                     "reject_authenticated_sender_login_mismatch"})
    c, _ = secure(o, accounts)
    # Not logged in and only the authenticated check: no lookup at all.
    c.send_line("MAIL FROM:<alice@example.org>")
    expect_reply(c, 250)
    c.send_line("RSET")
    expect_reply(c, 250)
    c.send_line("AUTH PLAIN " + plain(ALICE, USERS[ALICE]))
    expect_reply(c, 235)
    c.send_line("MAIL FROM:<alice@example.org>")
    expect_reply(c, 451, "4.3.0", timeout=30)
    quit_(c)


def test_address_locked_out_after_failures(auth_server, accounts):
    """smtpd_auth_failure_limit: failures add up across sessions from
    one address; then AUTH is refused with 421, even with the right
    password, until the window has passed."""
    o = auth_server({"smtpd_auth_failure_limit": "3",
                     "smtpd_auth_failure_window": "10m"},
                    master_cf="127.0.0.1:@port:smtps@ inet n - n - 1 smtpd\n"
                              "  -o smtpd_tls_wrappermode=yes\n")
    for _ in range(3):
        c, _ = secure(o, accounts)
        c.send_line("AUTH PLAIN " + plain(ALICE, "guess"))
        expect_reply(c, 535, "5.7.8")
        quit_(c)
    c, _ = secure(o, accounts)
    c.send_line("AUTH PLAIN " + plain(ALICE, USERS[ALICE]))
    expect_reply(c, 421, "4.7.0")
    assert c.wait_closed()
    o.wait_for_log(SMTPD + "warning: " + CLIENT + r": AUTH refused: 3 failed "
                   r"authentications from this address in the last \d+ s")


def test_auth_rate_limit(auth_server, accounts):
    """smtpd_client_auth_rate_limit counts AUTH commands per client in
    the window, across sessions; the one over it gets 450 4.7.1 and is
    not tried (a right password does not log in), and the password it
    carried is never logged."""
    o = auth_server({"smtpd_client_auth_rate_limit": 2,
                     "smtpd_client_event_limit_exceptions": ""})
    mark = o.log_mark()
    c, _ = secure(o, accounts)
    c.send_line("AUTH PLAIN " + plain(ALICE, "wrong password"))
    expect_reply(c, 535, "5.7.8")
    quit_(c)
    c, _ = secure(o, accounts)
    c.send_line("AUTH LOGIN")
    expect_reply(c, 334)
    c.send_line("*")
    expect_reply(c, 501)
    c.send_line("AUTH PLAIN " + plain(ALICE, USERS[ALICE]))
    r = expect_reply(c, 450, "4.7.1")
    assert r.raw[-1] == "450 4.7.1 Error: too many AUTH commands from 127.0.0.1"
    # The session goes on, unauthenticated: nothing else was answered.
    c.send_line("NOOP")
    expect_reply(c, 250)
    assert c.buffered() == b""
    c.send_line("AUTH PLAIN " + plain(ALICE, USERS[ALICE]))
    expect_reply(c, 450, "4.7.1")
    quit_(c)
    o.wait_for_log(r"warning: AUTH command rate limit exceeded: 3 from "
                   r"unknown\[127\.0\.0\.1\] for service \S+ \(3 in 60 s; "
                   r"smtpd_client_auth_rate_limit = 2\)", start=mark)
    # Only the first AUTH reached a password check.
    assert o.log_text()[mark:].count("authentication failed") == 1
    o.assert_not_in_log(USERS[ALICE])


def test_sasl_local_domain_completes_bare_logins(auth_server, accounts):
    """smtpd_sasl_local_domain: a login without "@" is checked, logged
    and owned as login@domain; a full one is left as it is."""
    o = auth_server({"smtpd_sasl_local_domain": "example.org"})
    c, _ = secure(o, accounts)
    c.send_line("AUTH PLAIN " + plain("alice", USERS[ALICE]))
    expect_reply(c, 235, "2.7.0")
    start_mail(c, sender=ALICE)
    qid = queued_id(send_data(c, SIMPLE))
    quit_(c)
    o.wait_for_log(SMTPD + qid + ": client=" + CLIENT +
                   r", sasl_method=PLAIN, sasl_username=alice@example\.org$")
    c, _ = secure(o, accounts)
    c.send_line("AUTH PLAIN " + plain(ALICE, USERS[ALICE]))
    expect_reply(c, 235, "2.7.0")
    quit_(c)
    # The password of alice@example.org, for "alice" completed into
    # another domain: refused.
    o2 = auth_server({"smtpd_sasl_local_domain": "example.net"})
    c, _ = secure(o2, accounts)
    c.send_line("AUTH PLAIN " + plain("alice", USERS[ALICE]))
    expect_reply(c, 535, "5.7.8")
    quit_(c)
    o2.wait_for_log(r"SASL PLAIN authentication failed: .*"
                    r"sasl_username=alice@example\.net")
