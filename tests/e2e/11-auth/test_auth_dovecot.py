# SPDX-License-Identifier: MIT
"""SMTP AUTH through a real Dovecot 2.3 (smtpd_sasl_type = dovecot):
PLAIN and LOGIN, wrong passwords, Dovecot's temporary failure, the
Unix-socket and inet: forms of smtpd_sasl_path, and Dovecot stopped
(454) then started again (recovery without restarting Ostia).
"""

import base64
import socket
import ssl
import time

import pytest

from ostia_harness import SmtpClient, wait_until
from smtp_e2e import CLIENT, SMTPD, expect_reply, quit_

dovecot_server = pytest.importorskip("dovecot_server")


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


@pytest.fixture
def dovecot():
    srv = dovecot_server.DovecotAuth.start(
        users={"alice@example.org": "alice secret",
               "bob@example.org": "bob secret"})
    yield srv
    srv.close()


def start(auth_server, dovecot, path):
    return auth_server({"smtpd_sasl_type": "dovecot",
                        "smtpd_sasl_path": path,
                        "smtpd_sasl_password_maps": None})


def session(o, accounts):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=accounts.certs.ca_bundle)
    raw = socket.create_connection(("127.0.0.1", o.ports["smtps"]), timeout=5)
    c = SmtpClient(ctx.wrap_socket(raw, server_hostname="mail.example.test"))
    expect_reply(c, 220)
    c.send_line("EHLO client.example")
    r = expect_reply(c, 250)
    return c, r.lines[1:]


def offers_auth(o, accounts):
    c, kws = session(o, accounts)
    quit_(c)
    return "AUTH PLAIN LOGIN" in kws


@pytest.mark.parametrize("form", ["unix", "inet"])
def test_dovecot_plain_and_login(auth_server, accounts, dovecot, form):
    path = dovecot.auth_socket if form == "unix" else dovecot.auth_inet
    o = start(auth_server, dovecot, path)
    # The first EHLO may come before the handshake with Dovecot is done.
    wait_until(lambda: offers_auth(o, accounts), timeout=15,
               what="AUTH offered")
    c, _ = session(o, accounts)
    c.send_line("AUTH PLAIN " + b64("\0alice@example.org\0alice secret"))
    expect_reply(c, 235, "2.7.0")
    quit_(c)
    c, _ = session(o, accounts)
    c.send_line("AUTH LOGIN")
    expect_reply(c, 334)
    c.send_line(b64("bob@example.org"))
    expect_reply(c, 334)
    c.send_line(b64("wrong"))
    expect_reply(c, 535, "5.7.8")
    c.send_line("AUTH LOGIN " + b64("bob@example.org"))
    expect_reply(c, 334)
    c.send_line(b64("bob secret"))
    expect_reply(c, 235, "2.7.0")
    quit_(c)
    o.wait_for_log(SMTPD + "warning: " + CLIENT + r": SASL LOGIN "
                   r"authentication failed: authentication failure, "
                   r"sasl_username=bob@example\.org")
    o.assert_not_in_log("alice secret")
    o.assert_not_in_log("bob secret")


def test_dovecot_tempfail_and_outage(auth_server, accounts, dovecot):
    o = start(auth_server, dovecot, dovecot.auth_socket)
    wait_until(lambda: offers_auth(o, accounts), timeout=15,
               what="AUTH offered")
    # Dovecot's own temporary failure: 454, not 535.
    c, _ = session(o, accounts)
    c.send_line("AUTH PLAIN " + b64("\0tempfail@example.org\0x"))
    expect_reply(c, 454, "4.7.0")
    quit_(c)
    # Dovecot gone: 454 (AUTH is still offered from the last list).
    dovecot.stop()
    c, _ = session(o, accounts)
    c.send_line("AUTH PLAIN " + b64("\0alice@example.org\0alice secret"))
    expect_reply(c, 454, "4.7.0", timeout=30)
    quit_(c)
    # Back: works again without restarting Ostia (reconnect backoff).
    dovecot.start()

    def works():
        c2, _ = session(o, accounts)
        c2.send_line("AUTH PLAIN " + b64("\0alice@example.org\0alice secret"))
        r = c2.read_reply(30)
        quit_(c2)
        return r.code == 235
    wait_until(works, timeout=60, interval=1.0, what="AUTH recovered")
