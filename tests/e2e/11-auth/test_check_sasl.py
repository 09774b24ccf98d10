# SPDX-License-Identifier: MIT
"""`ostia check` on smtpd_sasl_path with smtpd_sasl_type = dovecot: listed
without --live; with --live each auth socket is tried as smtpd uses it
(from queue_directory, as mail_owner) against a real Dovecot: the
mechanisms it offers, or, for a socket root could open but mail_owner
cannot and for a path where nothing listens, an error in words and
exit status 2.
"""

import os
import re

import pytest

dovecot_server = pytest.importorskip("dovecot_server")


@pytest.fixture
def dovecot():
    srv = dovecot_server.DovecotAuth.start(
        users={"alice@example.org": "alice secret"})
    yield srv
    srv.close()


def section(out):
    i = out.find("\nSASL (Dovecot):")
    assert i >= 0, out
    j = out.find("\nSASL (Dovecot): ", i + 1)
    return out[i:out.find("\n", j + 1)] if j > 0 else out[i:]


def start(auth_server, path):
    return auth_server({"smtpd_sasl_type": "dovecot",
                        "smtpd_sasl_path": path,
                        "smtpd_sasl_password_maps": None})


def test_check_sasl_live(auth_server, dovecot):
    o = start(auth_server, dovecot.auth_socket)
    r = o.cli("check")
    sec = section(r.stdout)
    assert re.search(r"note: %s \(smtpd_sasl_path of .*\): not tried"
                     % re.escape(dovecot.auth_socket), sec), sec

    r = o.cli("check", "--live", timeout=120)
    sec = section(r.stdout)
    assert re.search(r"ok: %s \(smtpd_sasl_path of [^)]*\): Dovecot answers "
                     r"\S+, offering PLAIN LOGIN"
                     % re.escape(dovecot.auth_socket), sec), sec
    assert "SASL (Dovecot): 0 errors" in sec, sec

    # Root could still connect; mail_owner cannot.
    os.chmod(dovecot.auth_socket, 0o600)
    try:
        r = o.cli("check", "--live", timeout=120)
    finally:
        os.chmod(dovecot.auth_socket, 0o666)
    sec = section(r.stdout)
    assert re.search(r"error: %s \(.*\): smtpd, as \S+, cannot use Dovecot's "
                     r"auth service: .*[Pp]ermission denied.*AUTH is not "
                     r"offered" % re.escape(dovecot.auth_socket), sec), sec
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)


def test_check_sasl_nothing_listens(auth_server, tmp_path):
    path = os.path.join(str(tmp_path), "no-such-auth")
    o = start(auth_server, path)
    r = o.cli("check", "--live", timeout=120)
    sec = section(r.stdout)
    assert re.search(r"error: %s \(.*\): smtpd, as \S+, cannot use Dovecot's "
                     r"auth service: " % re.escape(path), sec), sec
    assert r.returncode == 2
