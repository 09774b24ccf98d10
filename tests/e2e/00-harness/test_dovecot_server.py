# SPDX-License-Identifier: MIT
"""The Dovecot fixture (tests/e2e/dovecot_server.py) against a real Dovecot.

Starts a private Dovecot 2.3 and checks, with the raw protocol client
AuthClient, what the smtpd tests rely on: the handshake, right and wrong
passwords with PLAIN and LOGIN over the UNIX socket and over TCP, a real
temporary failure, the socket being usable by the unprivileged mail
owner, stop/start and restart, and passwords staying out of Dovecot's log.
This also pins down the protocol as Dovecot speaks it, for
src/smtpd/sasl_dovecot.c.
"""

import os
import subprocess
import sys

import pytest

from dovecot_server import (AuthClient, DovecotAuth, ProtocolError,
                            check_password, dovecot_auth)  # noqa: F401
from ostia_harness import ensure_test_user


def test_handshake(dovecot_auth):
    with AuthClient(dovecot_auth.auth_socket) as c:
        hs = c.handshake()
    assert hs["version"][0] == 1
    assert hs["mechs"] == {"PLAIN": ["plaintext"], "LOGIN": ["plaintext"]}
    assert hs["spid"].isdigit() and hs["cuid"].isdigit()
    assert hs["cookie_len"] == 32
    # The order smtpd's client must accept: VERSION first, DONE last.
    assert hs["lines"][0].startswith("VERSION\t1\t")
    assert hs["lines"][-1] == "DONE"
    print("handshake:", hs["lines"])


@pytest.mark.parametrize("where", ["unix", "inet"])
def test_plain_right_and_wrong_password(dovecot_auth, where):
    addr = (dovecot_auth.auth_socket if where == "unix"
            else dovecot_auth.auth_address)
    with AuthClient(addr) as c:
        c.handshake()
        for user, password in dovecot_auth.users.items():
            r = c.plain(user, password, rip="192.0.2.10", lip="127.0.0.1")
            assert r.status == "OK", r
            assert r.fields["user"] == user
            r = c.plain(user, password + "x", rip="192.0.2.10")
            assert r.status == "FAIL", r
            assert not r.temporary
            assert r.fields.get("user") == user
        r = c.plain("nobody@example.org", "whatever")
        assert r.status == "FAIL" and not r.temporary, r


def test_login_two_steps(dovecot_auth):
    user, password = next(iter(dovecot_auth.users.items()))
    with AuthClient(dovecot_auth.auth_socket) as c:
        c.handshake()
        rid = c.start("LOGIN", None, secured=True)
        r = c.reply()
        assert (r.status, r.id, r.data) == ("CONT", rid, "VXNlcm5hbWU6")
        c.cont(rid, user)
        r = c.reply()
        assert (r.status, r.data) == ("CONT", "UGFzc3dvcmQ6")
        c.cont(rid, password)
        r = c.reply()
        assert r.status == "OK" and r.fields["user"] == user
        assert c.login(user, "wrong").status == "FAIL"


def test_tempfail_user(dovecot_auth):
    r = check_password(dovecot_auth.auth_socket, "tempfail@example.org",
                       "whatever")
    assert r.status == "FAIL"
    assert r.temporary, r


def test_cancel_and_unknown_mechanism(dovecot_auth):
    user, password = next(iter(dovecot_auth.users.items()))
    with AuthClient(dovecot_auth.auth_socket) as c:
        c.handshake()
        rid = c.start("PLAIN", None)
        r = c.reply()
        assert (r.status, r.data) == ("CONT", "")
        # CANCEL gets no answer; the connection goes on.
        c.send_line("CANCEL\t%d" % rid)
        assert c.plain(user, password).status == "OK"
        # A mechanism that was not offered ends the connection.
        c.start("CRAM-MD5", None)
        with pytest.raises((ProtocolError, ConnectionError)):
            c.reply()


def test_socket_usable_by_mail_owner(dovecot_auth):
    """smtpd runs as the mail owner: the socket must work for it."""
    if os.geteuid() != 0:
        pytest.skip("not root: the tests run as the mail owner already")
    user = ensure_test_user()
    user_name, password = next(iter(dovecot_auth.users.items()))
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from dovecot_server import check_password\n"
            "r = check_password(%r, sys.argv[1], sys.argv[2])\n"
            "print(r.status)\n" % (here, dovecot_auth.auth_socket))
    r = subprocess.run([sys.executable, "-c", code, user_name, password],
                       user=user, capture_output=True, text=True,
                       timeout=60, cwd="/")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "OK"


def test_stop_start_restart(dovecot_auth):
    user, password = next(iter(dovecot_auth.users.items()))
    c = AuthClient(dovecot_auth.auth_socket)
    c.handshake()
    dovecot_auth.stop()
    with pytest.raises((ProtocolError, ConnectionError, OSError)):
        c.plain(user, password)
    c.close()
    with pytest.raises(OSError):
        check_password(dovecot_auth.auth_socket, user, password)
    with pytest.raises(OSError):
        check_password(dovecot_auth.auth_address, user, password)
    dovecot_auth.start()
    assert check_password(dovecot_auth.auth_socket, user,
                          password).status == "OK"
    dovecot_auth.restart()
    assert check_password(dovecot_auth.auth_address, user,
                          password).status == "OK"


def test_log_shows_requests_not_passwords(dovecot_auth):
    user, password = next(iter(dovecot_auth.users.items()))
    with AuthClient(dovecot_auth.auth_socket) as c:
        c.handshake()
        assert c.plain(user, password, rip="192.0.2.33", lip="127.0.0.1",
                       rport="40000", lport="587",
                       secured=True).status == "OK"
        assert c.login(user, password).status == "OK"
    reqs = dovecot_auth.auth_requests()
    plain = [f for f in reqs if "rip=192.0.2.33" in f]
    assert plain, reqs
    assert {"service=smtp", "secured", "lip=127.0.0.1", "rport=40000",
            "lport=587"} <= set(plain[0])
    log = dovecot_auth.log_text()
    import base64
    assert password not in log
    assert base64.b64encode(("\0%s\0%s" % (user, password))
                            .encode()).decode() not in log
    assert base64.b64encode(password.encode()).decode() not in log


def test_own_socket_path_and_users():
    srv = DovecotAuth.start(users={"dave@example.net": "d-pw"},
                            socket_path=None)
    try:
        assert srv.auth_socket.startswith(srv.base)
        assert check_password(srv.auth_socket, "dave@example.net",
                              "d-pw").status == "OK"
        assert check_password(srv.auth_socket, "alice@example.org",
                              "x").status == "FAIL"
        assert srv.auth_inet == "inet:127.0.0.1:%d" % srv.auth_port
    finally:
        srv.close()
    assert not os.path.exists(srv.base)
