# SPDX-License-Identifier: MIT
"""Fixtures of the SMTP server scenarios (tests/e2e/03-smtp).

`smtpd`: start(main_cf=None) -> a started ostia_harness.Ostia (one
smtpd on 127.0.0.1:.port plus the queue process) with main_cf merged
over the harness defaults (myhostname = test.example); the stored
messages are compared with what was sent byte for byte
(ostia_harness.exact_content_factory).  Instances are stopped and
removed by ostia_factory at teardown.
"""

import os
import sys

import pytest

from ostia_harness import exact_content_factory

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


@pytest.fixture
def smtpd(ostia_factory):
    exact = exact_content_factory(ostia_factory)

    def start(main_cf=None):
        o = exact(main_cf=dict(main_cf or {}))
        o.start_foreground()
        return o
    return start
