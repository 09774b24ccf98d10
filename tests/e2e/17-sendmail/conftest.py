# SPDX-License-Identifier: MIT
"""Setup of the sendmail scenarios (tests/e2e/17-sendmail).

Puts tests/e2e on sys.path (delivery_e2e.py).  delivery(**kw) comes
from tests/e2e/conftest.py.  Here:

  bindir          -> a directory (mode 0755) holding copies of the ostia
                     binary and of ostia-postdrop beside it (as an
                     installation has them: the sendmail command looks
                     for the helper next to its own executable) and the
                     symbolic links sendmail, mailq, newaliases, postqueue,
                     postsuper, postconf, postmap, postfix and postcat to
                     ostia.  The helper is not set-group-ID yet; tests
                     that need it call make_setgid(bindir).
"""

import os
import shutil
import sys
import tempfile

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
_E2E = os.path.dirname(_HERE)
if _E2E not in sys.path:
    sys.path.insert(0, _E2E)

import delivery_e2e  # noqa: E402
from ostia_harness import ostia_bin  # noqa: E402


@pytest.fixture
def bindir():
    ostia = ostia_bin()
    helper = os.path.join(os.path.dirname(ostia), "ostia-postdrop")
    if not os.path.isfile(helper):
        pytest.fail("%s is missing: the build makes it beside %s"
                    % (helper, ostia))
    d = tempfile.mkdtemp(prefix="ostia-e2e-bin-")
    os.chmod(d, 0o755)
    shutil.copy2(ostia, os.path.join(d, "ostia"))
    shutil.copy2(helper, os.path.join(d, "ostia-postdrop"))
    os.chmod(os.path.join(d, "ostia"), 0o755)
    os.chmod(os.path.join(d, "ostia-postdrop"), 0o755)
    for name in ("sendmail", "mailq", "newaliases", "postqueue",
                 "postsuper", "postconf", "postmap", "postfix", "postcat"):
        os.symlink("ostia", os.path.join(d, name))
    yield d
    shutil.rmtree(d, ignore_errors=True)
