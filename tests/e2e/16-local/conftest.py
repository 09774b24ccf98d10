# SPDX-License-Identifier: MIT
"""Setup of the local delivery scenarios (tests/e2e/16-local).

Puts tests/e2e on sys.path (delivery_e2e.py).  Fixtures:

  local_delivery()  -> delivery_e2e.Delivery (configured, not started)
                       with the `local` service in master.cf, LOCAL_DOMAIN
                       in mydestination, alias_maps a texthash table
                       (.aliases), mail_spool_directory a directory of
                       the instance (mode 1777, as the users create
                       their mailboxes there)
  dot_forward       -> write(user, text, mode): a ~/.forward file of the
                       user (removed after the test)
  local_users       -> (session, root only) the system users LOCAL_USERS
                       with home directories under HOMES, created with
                       useradd when missing; the test is skipped (shown
                       as skipped) when not root
"""

import os
import shutil
import subprocess
import sys
import time

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
_E2E = os.path.dirname(_HERE)
if _E2E not in sys.path:
    sys.path.insert(0, _E2E)

import delivery_e2e  # noqa: E402
from ostia_harness import find_binary  # noqa: E402

from local_users import LOCAL_DOMAIN, LOCAL_USERS  # noqa: E402
# The users' homes (fixed: a passwd entry names one path).
HOMES = "/var/tmp/ostia-e2e-local-homes"


def _ensure_user(name, home):
    import pwd
    for _ in range(40):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            pw = None
        if pw is not None:
            if pw.pw_dir != home:
                subprocess.run([find_binary("usermod"), "-d", home, name],
                               check=True, capture_output=True, timeout=60)
                pw = pwd.getpwnam(name)
            break
        r = subprocess.run([find_binary("useradd"), "--system",
                            "--home-dir", home, "--no-create-home",
                            "--shell", "/usr/sbin/nologin", name],
                           capture_output=True, text=True, timeout=60)
        if r.returncode not in (0, 9, 10):
            pytest.fail("cannot create user %s: useradd exit %d: %s"
                        % (name, r.returncode, r.stderr.strip()))
        if r.returncode != 0:
            time.sleep(0.25)
    else:
        pytest.fail("cannot create user %s" % name)
    os.makedirs(home, exist_ok=True)
    os.chown(home, pw.pw_uid, pw.pw_gid)
    os.chmod(home, 0o700)
    return pw


@pytest.fixture(scope="session")
def local_users():
    """{name: pwd entry} of the test's system users (root only)."""
    if os.geteuid() != 0:
        pytest.skip("not root: the local agent's deliveries as other "
                    "users need root and system users with homes")
    if find_binary("useradd") is None or find_binary("usermod") is None:
        pytest.skip("useradd/usermod not found")
    os.makedirs(HOMES, exist_ok=True)
    os.chmod(HOMES, 0o755)
    return {n: _ensure_user(n, os.path.join(HOMES, n)) for n in LOCAL_USERS}


class LocalDelivery(delivery_e2e.Delivery):
    """Delivery with the local agent (see the module text)."""

    def __init__(self, factory, **kw):
        super().__init__(factory, **kw)
        self.aliases = {}
        self.spool = os.path.join(self.o.tmpdir, "mail")
        os.makedirs(self.spool, exist_ok=True)
        os.chmod(self.spool, 0o1777)
        self.out = os.path.join(self.o.tmpdir, "out")
        os.makedirs(self.out, exist_ok=True)
        os.chmod(self.out, 0o777)
        self.params.update({
            "mydestination": "localhost, " + LOCAL_DOMAIN,
            "mail_spool_directory": self.spool,
            # Not mail_owner (refused): when not root that is the
            # user running the test, which may be nobody.
            "default_privs": "nobody" if self.user != "nobody"
            else "daemon",
        })
        self.master_extra += "local unix - n n - %d local\n" % self.agent_procs

    def write_config(self):
        self.params["alias_maps"] = (self.table("aliases", self.aliases)
                                     if self.aliases else "")
        super().write_config()

    def mbox(self, user):
        return os.path.join(self.spool, user)

    def wait_file(self, path, containing, timeout=delivery_e2e.WAIT):
        """Wait until path holds containing (bytes of str); return the
        file's bytes."""
        want = containing.encode()

        def found():
            try:
                data = delivery_e2e.read_bytes(path)
            except FileNotFoundError:
                return None
            return data if want in data else None
        try:
            from ostia_harness import wait_until
            return wait_until(found, timeout, 0.1, "%r in %s"
                              % (containing, path))
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, self.diag())) from None


@pytest.fixture
def local_delivery(ostia_factory):
    def make(**kwargs):
        return LocalDelivery(ostia_factory, **kwargs)
    return make


@pytest.fixture
def clean_homes():
    """Remove the Maildirs the test made in the users' homes."""
    yield
    for n in LOCAL_USERS:
        shutil.rmtree(os.path.join(HOMES, n, "Maildir"), ignore_errors=True)


@pytest.fixture
def dot_forward(local_users):
    """write(user, text, mode=0o600): the user's ~/.forward, owned by
    the user; every .forward file the test wrote is removed after it."""
    written = []

    def write(user, text, mode=0o600, name=".forward"):
        pw = local_users[user]
        path = os.path.join(pw.pw_dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chown(path, pw.pw_uid, pw.pw_gid)
        os.chmod(path, mode)
        written.append(path)
        return path
    yield write
    for path in written:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
