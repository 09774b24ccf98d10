# SPDX-License-Identifier: MIT
"""Setup of the smtpd DNS scenarios (tests/e2e/19-smtpd-dns).

Puts this directory (smtpd_dns_e2e.py) and tests/e2e (dns_server.py,
ostia_harness.py) on sys.path.  `dns` is one test DNS server
(dns_server.DnsServer, unbound) for the whole module, serving
smtpd_dns_e2e.ZONES; a missing unbound skips the tests visibly.
"""

import os
import sys

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
for d in (_HERE, os.path.dirname(_HERE)):
    if d not in sys.path:
        sys.path.insert(0, d)


@pytest.fixture(scope="module")
def dns():
    import dns_server
    import smtpd_dns_e2e

    yield from dns_server.module_server(smtpd_dns_e2e.ZONES)
