# SPDX-License-Identifier: MIT
"""Fixtures of the SMTP AUTH scenarios (tests/e2e/11-auth).

`accounts` (module): a password table (texthash) with SHA512-CRYPT
hashes of the test users, and certificates (tls_certs).
`auth_server`: start(main_cf=None, master_cf=None) -> a started Ostia
with AUTH on (smtpd_sasl_type = ostia, the table above), TLS, a STARTTLS
service "smtp" (smtpd_tls_auth_only = yes) and an implicit-TLS
service "smtps".
"""

import crypt
import os
import sys
import warnings

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
for d in (_HERE, os.path.join(os.path.dirname(_HERE), "03-smtp")):
    if d not in sys.path:
        sys.path.insert(0, d)

import tls_certs  # noqa: E402
from auth_users import USERS  # noqa: E402

DEFAULT_MASTER = (
    "127.0.0.1:@port:smtp@ inet n - n - 1 smtpd\n"
    "  -o smtpd_tls_auth_only=yes\n"
    "127.0.0.1:@port:smtps@ inet n - n - 1 smtpd\n"
    "  -o smtpd_tls_wrappermode=yes\n")


class Accounts:
    def __init__(self, directory):
        self.certs = tls_certs.make_certs(os.path.join(directory, "certs"))
        self.table = os.path.join(directory, "passwords")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            lines = ["%s {SHA512-CRYPT}%s" % (
                u, crypt.crypt(p, crypt.mksalt(crypt.METHOD_SHA512)))
                for u, p in USERS.items()]
        with open(self.table, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(self.table, 0o644)


@pytest.fixture(scope="module")
def accounts(tmp_path_factory):
    d = tmp_path_factory.mktemp("accounts")
    os.chmod(str(d), 0o755)
    return Accounts(str(d))


@pytest.fixture
def auth_server(ostia_factory, accounts):
    def start(main_cf=None, master_cf=None):
        conf = {
            "smtpd_tls_cert_file": accounts.certs.leaf_chain,
            "smtpd_tls_key_file": accounts.certs.leaf_key,
            "smtpd_tls_security_level": "may",
            "smtpd_sasl_auth_enable": "yes",
            "smtpd_sasl_type": "ostia",
            "smtpd_sasl_password_maps": "texthash:" + accounts.table,
            "myhostname": "mail.example.test",
        }
        conf.update(main_cf or {})
        o = ostia_factory(main_cf=conf,
                          master_cf=master_cf or DEFAULT_MASTER)
        o.start_foreground()
        return o
    return start
