# SPDX-License-Identifier: MIT
"""Setup of the SMTP access-policy scenarios (tests/e2e/14-policy).

Puts this directory (policy_e2e.py) and tests/e2e (relay_tricks.py,
policy_server.py) on sys.path.  The fixtures come from tests/e2e/
conftest.py (ostia_factory); policy_e2e.Setup wraps it.  After each
test the SMTP sessions it left open are closed before its instances
stop.
"""

import os
import sys

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
for d in (_HERE, os.path.dirname(_HERE)):
    if d not in sys.path:
        sys.path.insert(0, d)


@pytest.fixture(autouse=True)
def _close_smtp_sessions(ostia_factory):
    """Depends on ostia_factory so that it is torn down first."""
    yield
    import policy_e2e
    policy_e2e.close_open_sessions()
