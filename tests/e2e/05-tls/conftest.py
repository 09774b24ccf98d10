# SPDX-License-Identifier: MIT
"""Fixtures of the TLS scenarios (tests/e2e/05-tls).

`certs` (module): a tls_certs.CertSet made once per module (root,
intermediate, leaves good, self-signed, expired, for another name...).
`tls_server`: start(main_cf=None, master_cf=None) -> a started Ostia
whose main.cf has the good RSA chain (leaf + intermediate) as
smtpd_tls_cert_file, smtpd_tls_loglevel = 1, smtpd_starttls_timeout =
3s, and by default one STARTTLS service ("smtp", level may) and one
implicit-TLS service ("smtps").
"""

import os
import sys

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
for d in (_HERE, os.path.join(os.path.dirname(_HERE), "03-smtp")):
    if d not in sys.path:
        sys.path.insert(0, d)

import tls_certs  # noqa: E402

DEFAULT_MASTER = (
    "127.0.0.1:@port:smtp@ inet n - n - 1 smtpd\n"
    "127.0.0.1:@port:smtps@ inet n - n - 1 smtpd\n"
    "  -o smtpd_tls_wrappermode=yes\n")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    os.chmod(str(d), 0o755)
    cs = tls_certs.make_certs(str(d))
    # The smtpd children read keys before they drop privileges, but
    # `ostia check` and the tests read them too: keep them readable by
    # root only, as a real key is.
    return cs


@pytest.fixture
def tls_server(ostia_factory, certs):
    def start(main_cf=None, master_cf=None, wait=True):
        conf = {
            "smtpd_tls_cert_file": certs.leaf_chain,
            "smtpd_tls_key_file": certs.leaf_key,
            "smtpd_tls_security_level": "may",
            "smtpd_tls_loglevel": "1",
            "smtpd_starttls_timeout": "3s",
            "myhostname": "mail.example.test",
        }
        conf.update(main_cf or {})
        o = ostia_factory(main_cf=conf,
                          master_cf=master_cf or DEFAULT_MASTER)
        o.start_foreground()
        return o
    return start
