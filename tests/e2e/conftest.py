# SPDX-License-Identifier: MIT
"""Shared pytest setup for the end-to-end scenarios in tests/e2e/NN-name.

- Puts tests/e2e on sys.path so scenarios can `from ostia_harness import ...`.
- Exit status: ctest treats 77 as "skipped".  When no test failed or errored
  and at least one test (or a whole module) was skipped, the session exits
  with 77, so a skipped peer never looks like a pass.  pytest's own exit 5
  (no tests collected) becomes 1: an empty scenario is a failure.
- Fixtures: `ostia_user` (session; the unprivileged mail_owner, created as
  the system user "ostia-test" when running as root) and `ostia_factory`
  (builds Ostia instances in fresh temporary directories and stops and
  removes them at teardown; a failed test keeps its directory and prints
  the log tail).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import ostia_harness  # noqa: E402

EXIT_SKIPPED = 77

_counts = {"skipped": 0, "failed": 0}


def _is_plain_skip(report):
    # An xfail is reported with outcome "skipped" but is not a skip.
    return report.skipped and not hasattr(report, "wasxfail")


def pytest_collectreport(report):
    if _is_plain_skip(report):
        _counts["skipped"] += 1
    elif report.failed:
        _counts["failed"] += 1


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    # Lets fixtures see at teardown whether their test failed.
    setattr(item, "ostia_rep_" + report.when, report)


def pytest_runtest_logreport(report):
    if _is_plain_skip(report):
        _counts["skipped"] += 1
    elif report.failed:
        _counts["failed"] += 1


def skip_exit_status(exitstatus, skipped, failed):
    """Map pytest's exit status to the one ctest should see.

    Returns 77 when nothing failed and something was skipped, 1 for "no
    tests collected" without skips, else exitstatus unchanged.
    """
    status = int(exitstatus)
    if status in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED) \
            and failed == 0:
        if skipped > 0:
            return EXIT_SKIPPED
        if status == pytest.ExitCode.NO_TESTS_COLLECTED:
            return int(pytest.ExitCode.TESTS_FAILED)
    return status


def pytest_sessionfinish(session, exitstatus):
    new = skip_exit_status(exitstatus, _counts["skipped"], _counts["failed"])
    if new == int(exitstatus):
        return
    session.exitstatus = new
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    if new == EXIT_SKIPPED:
        msg = ("ostia e2e: %d skipped, nothing failed: exit status 77 "
               "(reported as skipped by ctest)" % _counts["skipped"])
    else:
        msg = "ostia e2e: no tests collected: exit status 1"
    if tr is not None:
        tr.write_line(msg)
    else:
        sys.stderr.write(msg + "\n")


@pytest.fixture(scope="session")
def ostia_user():
    """Name of the unprivileged user to use as mail_owner."""
    return ostia_harness.ensure_test_user()


@pytest.fixture
def ostia_factory(request, ostia_user):
    """Return make(**kwargs) -> ostia_harness.Ostia.

    Each instance gets a fresh world-traversable directory from
    tempfile.mkdtemp() (pytest's tmp_path lives under a 0700 directory the
    dropped-privilege children could not enter).  kwargs go to Ostia();
    user defaults to ostia_user.  At teardown every instance is closed
    (processes stopped, leftovers killed) and its directory removed, except
    when the test failed or OSTIA_E2E_KEEP is set.
    """
    made = []

    def make(**kwargs):
        kwargs.setdefault("user", ostia_user)
        inst = ostia_harness.Ostia(None, **kwargs)
        made.append(inst)
        return inst

    yield make

    failed = any(getattr(getattr(request.node, "ostia_rep_" + w, None),
                         "failed", False) for w in ("setup", "call"))
    keep = failed or bool(os.environ.get("OSTIA_E2E_KEEP"))
    errors = []
    for inst in made:
        try:
            inst.close()
        except Exception as exc:  # report, but clean up the others
            errors.append("%s: %s" % (inst.tmpdir, exc))
        # In the sanitizer run a report from any ostia process (master or
        # child, whose stderr is the log) fails the test that caused it.
        report = _sanitizer_report(inst)
        if report:
            errors.append("%s: sanitizer report:\n%s" % (inst.tmpdir, report))
            keep = True
        if failed:
            print("---- ostia instance %s ----" % inst.tmpdir)
            print(inst.diagnostics())
        if keep:
            print("kept %s" % inst.tmpdir)
        else:
            shutil.rmtree(inst.tmpdir, ignore_errors=True)
    if errors:
        pytest.fail("cleanup failed: " + "; ".join(errors))


@pytest.fixture
def delivery(ostia_factory):
    """Return make(**kwargs) -> delivery_e2e.Delivery (configured, not
    started): the delivery scenarios' instance with its mailboxes."""
    import delivery_e2e

    def make(**kwargs):
        return delivery_e2e.Delivery(ostia_factory, **kwargs)
    return make


# "has encountered a fatal error": LeakSanitizer could not check a
# process (for example a chrooted one without /proc), which hides leaks.
_SANITIZER_RE = re.compile(r"ERROR: (Address|Leak|Memory|Thread)Sanitizer|"
                           r"LeakSanitizer has encountered a fatal error|"
                           r"runtime error: |SUMMARY: UndefinedBehavior")


def _sanitizer_report(inst):
    texts = []
    for path in (inst.log_path, inst.run_out):
        try:
            with open(path, errors="replace") as f:
                texts.append(f.read())
        except OSError:
            pass
    text = "\n".join(texts)
    m = _SANITIZER_RE.search(text)
    if not m:
        return None
    return text[max(0, m.start() - 200):m.start() + 3000]


def _ext4_fs(journal):
    """A fresh 64 MB ext4 (with or without a journal) on a loop device,
    mounted in a temporary directory: yields the mount point; unmounted
    and removed afterwards (after the instances on it stopped)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a file system")
    tools = {n: ostia_harness.find_binary(n)
             for n in ("mkfs.ext4", "losetup", "mount", "umount")}
    missing = [n for n, p in tools.items() if p is None]
    if missing:
        pytest.skip("peer %s is not installed" % ", ".join(missing))
    work = tempfile.mkdtemp(prefix="ostia-e2e-jfs-")
    os.chmod(work, 0o755)       # agents (not root) reach Maildirs there
    img, mnt = os.path.join(work, "fs.img"), os.path.join(work, "mnt")
    os.mkdir(mnt)
    dev = None
    try:
        with open(img, "wb") as f:
            f.truncate(64 << 20)
        subprocess.run([tools["mkfs.ext4"], "-q", "-F", "-O",
                        "has_journal" if journal else "^has_journal", img],
                       check=True, capture_output=True)
        r = subprocess.run([tools["losetup"], "-f", "--show", img],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip("no loop device for an ext4 image: %s" %
                        r.stderr.strip())
        dev = r.stdout.strip()
        r = subprocess.run([tools["mount"], dev, mnt], capture_output=True,
                           text=True)
        if r.returncode != 0:
            pytest.skip("cannot mount an ext4 image: %s" % r.stderr.strip())
        os.chmod(mnt, 0o755)
        yield mnt
    finally:
        if os.path.ismount(mnt):
            subprocess.run([tools["umount"], mnt], capture_output=True)
        if dev:
            subprocess.run([tools["losetup"], "-d", dev],
                           capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def journaled_fs():
    """A fresh ext4 with a journal (data=ordered, the default) on a loop
    device: the mount point."""
    yield from _ext4_fs(True)


@pytest.fixture
def unjournaled_fs():
    """A fresh ext4 without a journal on a loop device: the mount
    point."""
    yield from _ext4_fs(False)


def _test_failed(request):
    return any(getattr(getattr(request.node, "ostia_rep_" + w, None),
                       "failed", False) for w in ("setup", "call"))


@pytest.fixture
def dovecot(request, ostia_user):
    """make(**kw) -> dovecot_server.DovecotMail (running; users at the
    Ostia test user's uid/gid unless given); skips the test when Dovecot
    is missing; its log is printed when the test failed."""
    import delivery_e2e
    import dovecot_server
    made = []

    def make(**kwargs):
        if os.geteuid() == 0:
            uid, gid = delivery_e2e.user_ids(ostia_user)
            kwargs.setdefault("uid", uid)
            kwargs.setdefault("gid", gid)
        srv = dovecot_server.DovecotMail.start(**kwargs)
        made.append(srv)
        return srv
    yield make
    failed = _test_failed(request)
    for srv in made:
        if failed:
            print("---- Dovecot %s ----" % srv.base)
            print(delivery_e2e.excerpt(srv.log_text()))
            print("---- Dovecot LDA log ----")
            print(delivery_e2e.excerpt(srv.lda_log_text()))
        srv.close()
