# SPDX-License-Identifier: MIT
"""Setup of the delivery scenarios (tests/e2e/15-delivery).

Puts tests/e2e on sys.path (delivery_e2e.py, dovecot_server.py).  The
Ostia instances come from tests/e2e/conftest.py (ostia_factory, and
delivery(**kw) -> delivery_e2e.Delivery); here:

  lmtp_server(**kw)  -> delivery_e2e.LmtpServer (running), closed after
                        the test; its transcript is printed when the
                        test failed
  (dovecot(**kw), the private Dovecot, is in tests/e2e/conftest.py)
"""

import os
import sys

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
_E2E = os.path.dirname(_HERE)
if _E2E not in sys.path:
    sys.path.insert(0, _E2E)

import delivery_e2e  # noqa: E402


def _failed(request):
    return any(getattr(getattr(request.node, "ostia_rep_" + w, None),
                       "failed", False) for w in ("setup", "call"))


@pytest.fixture
def lmtp_server(request):
    made = []

    def make(**kwargs):
        srv = delivery_e2e.LmtpServer(**kwargs)
        made.append(srv)
        return srv
    yield make
    failed = _failed(request)
    for srv in made:
        if failed:
            print("---- scripted LMTP server %s ----" % srv.nexthop)
            print(srv.describe())
        srv.close()
