# SPDX-License-Identifier: MIT
"""Setup of the Milter scenarios (tests/e2e/23-milter): the helpers of
tests/e2e/14-policy (policy_e2e) and tests/e2e (milter_server.py,
delivery_e2e.py) on sys.path; open SMTP sessions are closed before the
instances stop.  The delivery fixture (tests/e2e/conftest.py) serves
the sendmail scenarios (non_smtpd_milters)."""

import os
import sys

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
_E2E = os.path.dirname(_HERE)
for d in (_HERE, os.path.join(_E2E, "14-policy"), _E2E):
    if d not in sys.path:
        sys.path.insert(0, d)


@pytest.fixture(autouse=True)
def _close_smtp_sessions(ostia_factory):
    """Depends on ostia_factory so that it is torn down first."""
    yield
    import policy_e2e
    policy_e2e.close_open_sessions()


@pytest.fixture
def milter():
    """tests/e2e/milter_server.py on a free port (test_milter.Filter)."""
    from test_milter import Filter, have_pymilter
    if not have_pymilter():
        pytest.skip("python3-milter (pymilter) is not installed")
    f = Filter()
    yield f
    f.stop()
