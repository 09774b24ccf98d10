# SPDX-License-Identifier: MIT
"""The embedded account database: `ostia domain|user|alias|account`
(src/cli/cmd_account.c, src/common/account_db.c, docs/accounts.md).

End to end on a harness instance (`ostia -c DIR ...`): the database made
on first use (mode 0640, group mail_owner's when root, data_directory
created), domains, mailboxes and aliases added, listed (aligned, never a
hash) and deleted; the password from standard input (first line only,
checked against the stored hash with `openssl passwd` / `doveadm pw`) or
from a terminal prompt (a pty: asked twice, never echoed, mismatch and
Ctrl-C refused with the terminal restored); refusals with exit 1 (bad
address, unknown domain, duplicates, in use) or 2 (a password on the
command line: impossible); a busy database (75); the SQL table files of
`ostia account tables` answering through `ostia map -q` (found, not
found, disabled mailbox and domain, catch-all, sender logins) and
through the running lookup process as mail_owner; scripts/make-run-env
creating the demo account once.
"""

import os
import pty
import pwd
import select
import signal
import shutil
import sqlite3
import stat
import subprocess
import tempfile
import termios
import time

import pytest

from ostia_harness import find_binary, require_peer, source_dir

EX_OK, EX_BAD, EX_USAGE, EX_TEMPFAIL = 0, 1, 2, 75

TABLES = ("virtual_mailbox_domains", "virtual_mailbox_maps",
          "virtual_alias_maps", "smtpd_sender_login_maps",
          "smtpd_sasl_password_maps")


def run(o, *args, input=None, timeout=60):
    """`ostia -c CONFDIR ARGS...` in a new session (no controlling
    terminal: a command that wanted to prompt could not hang the test)."""
    cmd = [o.binary, "-c", o.confdir, *[str(a) for a in args]]
    kw = {"input": input} if input is not None else \
        {"stdin": subprocess.DEVNULL}
    return subprocess.run(cmd, capture_output=True, text=True,
                          errors="replace", timeout=timeout,
                          start_new_session=True, **kw)


def ok(o, *args, input=None):
    r = run(o, *args, input=input)
    assert r.returncode == EX_OK, "%s: exit %d\n%s%s" % (
        " ".join(args), r.returncode, r.stdout, r.stderr)
    return r


def refused(o, code, text, *args, input=None):
    r = run(o, *args, input=input)
    assert r.returncode == code, "%s: exit %d, want %d\n%s%s" % (
        " ".join(args), r.returncode, code, r.stdout, r.stderr)
    assert text in r.stderr, "%r not in %r" % (text, r.stderr)
    return r


def db_path(o):
    return os.path.join(o.tmpdir, "data", "accounts.sqlite")


def db_rows(o, sql):
    con = sqlite3.connect("file:%s?mode=ro" % db_path(o), uri=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def tables_dir(o):
    return os.path.join(o.confdir, "sqlite")


def q(o, table, key):
    """(exit status, value) of `ostia map -q KEY sqlite:DIR/TABLE.cf`."""
    r = o.cli("map", "-q", key, "sqlite:%s/%s.cf" % (tables_dir(o), table))
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, r.stdout.rstrip("\n")


def found(o, table, key):
    st, value = q(o, table, key)
    assert st == 0, "%s: %s not found" % (table, key)
    return value


def not_found(o, table, key):
    st, value = q(o, table, key)
    assert st == 1, "%s: %s found: %r" % (table, key, value)


def verify_hash(stored, password):
    """True when stored ("{SCHEME}...") is a hash of password."""
    scheme, _, data = stored[1:].partition("}")
    if scheme == "SHA512-CRYPT":
        salt = data.split("$")[2]
        r = subprocess.run([require_peer("openssl"), "passwd", "-6",
                            "-salt", salt, "-stdin"], input=password + "\n",
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip() == data
    r = subprocess.run([require_peer("doveadm"), "pw", "-t", stored, "-p",
                        password], capture_output=True, text=True,
                       timeout=60)
    return r.returncode == 0


@pytest.fixture
def inst(ostia_factory):
    return ostia_factory()


@pytest.fixture
def demo(inst):
    """An instance with ostia.test, demo@ostia.test (password "demo") and
    postmaster@ostia.test -> demo@ostia.test."""
    o = inst
    ok(o, "domain", "add", "ostia.test")
    ok(o, "user", "add", "demo@ostia.test", "--password-stdin",
       input="demo\n")
    ok(o, "alias", "add", "postmaster@ostia.test", "demo@ostia.test")
    return o


# ---------------------------------------------------------------- commands

def test_first_use_creates_the_database(inst):
    o = inst
    assert not os.path.exists(os.path.join(o.tmpdir, "data"))
    r = ok(o, "domain", "add", "Example.ORG", "--description", "ours")
    assert r.stdout == "domain example.org added\n"
    assert "new account database" in r.stderr
    st = os.stat(db_path(o))
    assert stat.S_IMODE(st.st_mode) == 0o640
    user = pwd.getpwnam(o.user)
    if os.geteuid() == 0:
        # Root writes it; the lookup process reads it as mail_owner.
        assert st.st_uid == 0
        assert st.st_gid == user.pw_gid
        d = os.stat(os.path.join(o.tmpdir, "data"))
        assert (d.st_uid, stat.S_IMODE(d.st_mode)) == (user.pw_uid, 0o700)
    assert db_rows(o, "SELECT version FROM schema_version") == [(1,)]
    assert db_rows(o, "SELECT domain, description, active FROM domain") \
        == [("example.org", "ours", 1)]
    # -c after the command word works too.
    r = subprocess.run([o.binary, "domain", "list", "-c", o.confdir],
                       capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and "example.org" in r.stdout, r.stderr


def test_users_and_aliases(demo):
    o = demo
    ok(o, "user", "add", "Alice@Ostia.Test", "--name", "Alice Liddell",
       "--quota", "2G", "--scheme", "argon2id", "--password-stdin",
       input="wonderland\n")
    ok(o, "alias", "add", "sales@ostia.test", "alice@ostia.test, "
       "demo@ostia.test,ext@example.net")
    ok(o, "alias", "add", "@ostia.test", "demo@ostia.test")

    rows = db_rows(o, "SELECT username, name, maildir, quota, domain, "
                   "active, password FROM mailbox ORDER BY username")
    assert [r[:6] for r in rows] == [
        ("alice@ostia.test", "Alice Liddell", "ostia.test/alice/",
         2 << 30, "ostia.test", 1),
        ("demo@ostia.test", "", "ostia.test/demo/", 0, "ostia.test", 1)]
    assert rows[0][6].startswith("{ARGON2ID}$argon2id$")
    assert rows[1][6].startswith("{SHA512-CRYPT}$6$")
    assert verify_hash(rows[1][6], "demo")
    assert not verify_hash(rows[1][6], "Demo")
    if find_binary("doveadm"):
        assert verify_hash(rows[0][6], "wonderland")
    assert db_rows(o, "SELECT goto FROM alias WHERE address = "
                   "'sales@ostia.test'") == [
        ("alice@ostia.test,demo@ostia.test,ext@example.net",)]

    # Lists: aligned columns, the scheme but never a hash.
    out = ok(o, "user", "list").stdout
    lines = out.splitlines()
    assert lines[0].split() == ["ADDRESS", "ACTIVE", "QUOTA", "SCHEME",
                                "MAILDIR", "CREATED", "NAME"]
    assert lines[1].split()[:5] == ["alice@ostia.test", "yes", "2G",
                                    "ARGON2ID", "ostia.test/alice/"]
    assert lines[2].split()[:5] == ["demo@ostia.test", "yes", "-",
                                    "SHA512-CRYPT", "ostia.test/demo/"]
    assert lines[1].index("yes") == lines[0].index("ACTIVE")
    assert lines[2].index("SHA512") == lines[0].index("SCHEME")
    assert "$" not in out
    out = ok(o, "alias", "list", "ostia.test").stdout
    assert [ln.split()[0] for ln in out.splitlines()] == [
        "ADDRESS", "@ostia.test", "postmaster@ostia.test",
        "sales@ostia.test"]
    out = ok(o, "domain", "list").stdout.splitlines()
    assert out[1].split()[:4] == ["ostia.test", "yes", "2", "3"]

    # passwd, disable, enable.
    ok(o, "user", "passwd", "demo@ostia.test", "--password-stdin",
       input="changed\n")
    h = db_rows(o, "SELECT password FROM mailbox WHERE username = "
                "'demo@ostia.test'")[0][0]
    assert verify_hash(h, "changed") and not verify_hash(h, "demo")
    r = ok(o, "user", "disable", "DEMO@ostia.test")
    assert r.stdout == "mailbox demo@ostia.test disabled\n"
    assert "no " in ok(o, "user", "list", "ostia.test").stdout
    ok(o, "user", "enable", "demo@ostia.test")

    # Deleting demo takes it out of sales; postmaster would be left
    # without a target: refused, then done with --force.
    refused(o, EX_BAD, "postmaster@ostia.test", "user", "del",
            "demo@ostia.test")
    assert len(db_rows(o, "SELECT * FROM mailbox")) == 2
    ok(o, "user", "del", "demo@ostia.test", "--force")
    assert db_rows(o, "SELECT address, goto FROM alias ORDER BY address") \
        == [("sales@ostia.test", "alice@ostia.test,ext@example.net")]
    ok(o, "alias", "del", "Sales@ostia.test")
    refused(o, EX_BAD, "no alias sales@ostia.test", "alias", "del",
            "sales@ostia.test")


def test_password_stdin_first_line_only(inst):
    o = inst
    ok(o, "domain", "add", "ostia.test")
    ok(o, "user", "add", "a@ostia.test", "--password-stdin",
       input="first\r\nsecond\n")
    h = db_rows(o, "SELECT password FROM mailbox")[0][0]
    assert verify_hash(h, "first")
    assert not verify_hash(h, "second")
    assert not verify_hash(h, "first\r")
    # No final newline is fine too.
    ok(o, "user", "add", "b@ostia.test", "--password-stdin", input="x y")
    h = db_rows(o, "SELECT password FROM mailbox WHERE username = "
                "'b@ostia.test'")[0][0]
    assert verify_hash(h, "x y")


def test_refusals(demo):
    o = demo
    # Bad input: exit 1 with the reason, nothing written.
    refused(o, EX_BAD, "is not a mail address", "user", "add", "demo",
            "--password-stdin", input="x\n")
    refused(o, EX_BAD, "not a mail address", "user", "add",
            "a@b@ostia.test", "--password-stdin", input="x\n")
    refused(o, EX_BAD, "angle brackets", "alias", "add",
            "<x@ostia.test>", "demo@ostia.test")
    refused(o, EX_BAD, "not a valid domain name", "domain", "add",
            "exa mple.org")
    refused(o, EX_BAD, "address literal", "domain", "add", "[192.0.2.1]")
    refused(o, EX_BAD, "cannot contain '/'", "user", "add",
            "a/b@ostia.test", "--password-stdin", input="x\n")
    refused(o, EX_BAD, "catch-all", "user", "add", "@ostia.test",
            "--password-stdin", input="x\n")
    refused(o, EX_BAD, "not a mail address", "alias", "add",
            "x@ostia.test", "demo@ostia.test,nodomain")
    refused(o, EX_BAD, "is not a size", "user", "add", "q@ostia.test",
            "--quota", "lots", "--password-stdin", input="x\n")
    refused(o, EX_BAD, "SHA512-CRYPT", "user", "add", "q@ostia.test",
            "--scheme", "PLAIN", "--password-stdin", input="x\n")
    # Unknown domain.
    refused(o, EX_BAD, "no domain example.org here", "user", "add",
            "bob@example.org", "--password-stdin", input="x\n")
    refused(o, EX_BAD, "ostia domain add example.org", "alias", "add",
            "@example.org", "demo@ostia.test")
    refused(o, EX_BAD, "no domain example.org", "user", "list",
            "example.org")
    # Duplicates.
    refused(o, EX_BAD, "exists already", "domain", "add", "OSTIA.test")
    refused(o, EX_BAD, "exists already", "user", "add", "Demo@ostia.test",
            "--password-stdin", input="x\n")
    refused(o, EX_BAD, "exists already", "alias", "add",
            "postmaster@ostia.test", "x@example.net")
    # Missing ones.
    refused(o, EX_BAD, "no mailbox nobody@ostia.test", "user", "passwd",
            "nobody@ostia.test", "--password-stdin", input="x\n")
    refused(o, EX_BAD, "no mailbox", "user", "del", "nobody@ostia.test")
    refused(o, EX_BAD, "no domain", "domain", "del", "example.org")
    # Passwords: empty, absent, no terminal.
    refused(o, EX_BAD, "empty password", "user", "add", "e@ostia.test",
            "--password-stdin", input="\n")
    refused(o, EX_BAD, "standard input is empty", "user", "add",
            "e@ostia.test", "--password-stdin", input="")
    refused(o, EX_BAD, "use --password-stdin", "user", "add",
            "e@ostia.test")
    refused(o, EX_BAD, "longer than", "user", "add", "e@ostia.test",
            "--password-stdin", input="x" * 5000 + "\n")
    # Usage.
    refused(o, EX_USAGE, "usage: ostia user", "user", "frobnicate")
    refused(o, EX_USAGE, "usage: ostia alias", "alias", "add",
            "x@ostia.test")
    assert db_rows(o, "SELECT username FROM mailbox") == \
        [("demo@ostia.test",)]
    assert db_rows(o, "SELECT count(*) FROM alias") == [(1,)]
    assert db_rows(o, "SELECT count(*) FROM domain") == [(1,)]


def test_password_on_the_command_line_is_impossible(demo):
    o = demo
    for args in (["--password", "s3cret"], ["--password=s3cret"],
                 ["-p", "s3cret"]):
        r = refused(o, EX_USAGE, "never taken from the command line",
                    "user", "add", "eve@ostia.test", *args)
        assert "s3cret" not in r.stdout + r.stderr
        r = refused(o, EX_USAGE, "never taken from the command line",
                    "user", "passwd", "demo@ostia.test", *args)
        assert "s3cret" not in r.stdout + r.stderr
    # A stray extra argument is not taken as a password either.
    refused(o, EX_USAGE, "usage: ostia user", "user", "add",
            "eve@ostia.test", "s3cret", "--password-stdin", input="x\n")
    assert db_rows(o, "SELECT username FROM mailbox") == \
        [("demo@ostia.test",)]


def test_domain_delete(demo):
    o = demo
    ok(o, "domain", "add", "other.test")
    ok(o, "alias", "add", "team@other.test", "demo@ostia.test,x@other.test")
    refused(o, EX_BAD, "1 mailbox and 1 alias", "domain", "del",
            "ostia.test")
    r = ok(o, "domain", "del", "ostia.test", "--force")
    assert "deleted" in r.stdout
    assert db_rows(o, "SELECT count(*) FROM mailbox") == [(0,)]
    # Aliases elsewhere lose its mailboxes as targets.
    assert db_rows(o, "SELECT address, goto FROM alias") == \
        [("team@other.test", "x@other.test")]
    assert db_rows(o, "SELECT domain FROM domain") == [("other.test",)]
    ok(o, "alias", "del", "team@other.test")
    ok(o, "domain", "del", "other.test")


def test_busy_database(demo):
    o = demo
    con = sqlite3.connect(db_path(o), isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        r = run(o, "domain", "add", "late.test")
        assert r.returncode == EX_TEMPFAIL, r.stderr
        assert "locked" in r.stderr and "try again" in r.stderr
        # Reading still works while another writer holds the lock.
        assert "ostia.test" in ok(o, "domain", "list").stdout
    finally:
        con.execute("ROLLBACK")
        con.close()
    ok(o, "domain", "add", "late.test")


def test_newer_schema_refused(demo):
    o = demo
    con = sqlite3.connect(db_path(o))
    con.execute("UPDATE schema_version SET version = 99")
    con.commit()
    con.close()
    refused(o, EX_BAD, "schema version 99 is newer", "domain", "list")
    refused(o, EX_BAD, "schema version 99 is newer", "domain", "add",
            "x.test")


# ---------------------------------------------------------------- terminal

class Pty:
    """ostia ARGS under a new pseudo-terminal as its controlling one."""

    def __init__(self, o, *args):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # child
            try:
                os.execv(o.binary, [o.binary, "-c", o.confdir, *args])
            finally:
                os._exit(127)
        self.out = b""

    def expect(self, text, timeout=30):
        deadline = time.monotonic() + timeout
        while text.encode() not in self.out:
            left = deadline - time.monotonic()
            assert left > 0, "no %r in %r" % (text, self.out)
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:
                    data = b""
                assert data, "EOF before %r: %r" % (text, self.out)
                self.out += data

    def send(self, data):
        os.write(self.fd, data)

    def finish(self, timeout=60):
        """Read to the end; return the exit status."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.fd], [], [], 0.2)
            if r:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:
                    data = b""
                if not data:
                    break
                self.out += data
        # Never wait forever: a child still running now is a failure
        # with its output, not a hung suite.
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            time.sleep(1)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            raise AssertionError("ostia did not exit: %r" % self.out)
        return os.waitstatus_to_exitcode(status)

    def echo_on(self):
        return bool(termios.tcgetattr(self.fd)[3] & termios.ECHO)

    def close(self):
        os.close(self.fd)


def test_prompt_asks_twice_without_echo(demo):
    o = demo
    t = Pty(o, "user", "add", "tty@ostia.test")
    try:
        t.expect("New password for tty@ostia.test: ")
        assert not t.echo_on()
        t.send(b"typed-secret\n")
        t.expect("Again: ")
        t.send(b"typed-secret\n")
        assert t.finish() == EX_OK, t.out
        assert t.echo_on()
    finally:
        t.close()
    assert b"typed-secret" not in t.out
    assert b"mailbox tty@ostia.test added" in t.out
    h = db_rows(o, "SELECT password FROM mailbox WHERE username = "
                "'tty@ostia.test'")[0][0]
    assert verify_hash(h, "typed-secret")


def test_prompt_mismatch_and_cancel(demo):
    o = demo
    t = Pty(o, "user", "passwd", "demo@ostia.test")
    try:
        t.expect("New password for demo@ostia.test: ")
        t.send(b"one\n")
        t.expect("Again: ")
        t.send(b"two\n")
        assert t.finish() == EX_BAD
    finally:
        t.close()
    assert b"differ" in t.out
    t = Pty(o, "user", "add", "cancel@ostia.test")
    try:
        t.expect("New password for cancel@ostia.test: ")
        t.send(b"half")
        t.send(termios.tcgetattr(t.fd)[6][termios.VINTR])
        assert t.finish() == EX_BAD
        assert t.echo_on(), "the terminal was left without echo"
    finally:
        t.close()
    assert b"interrupted" in t.out
    h = db_rows(o, "SELECT password FROM mailbox WHERE username = "
                "'demo@ostia.test'")[0][0]
    assert verify_hash(h, "demo")
    assert db_rows(o, "SELECT count(*) FROM mailbox") == [(1,)]


# ---------------------------------------------------------------- tables

def write_tables(o):
    r = ok(o, "account", "tables", tables_dir(o))
    for t in TABLES:
        path = os.path.join(tables_dir(o), t + ".cf")
        assert "%s = sqlite:%s" % (t, path) in r.stdout
        st = os.stat(path)
        assert stat.S_IMODE(st.st_mode) == 0o644
        with open(path) as f:
            assert "dbpath = %s\n" % db_path(o) in f.read()
    return r


def test_tables_answer(demo):
    o = demo
    ok(o, "user", "add", "off@ostia.test", "--password-stdin",
       input="pw\n")
    ok(o, "user", "disable", "off@ostia.test")
    ok(o, "alias", "add", "@ostia.test", "demo@ostia.test")
    ok(o, "domain", "add", "closed.test")
    ok(o, "user", "add", "x@closed.test", "--password-stdin", input="pw\n")
    ok(o, "domain", "disable", "closed.test")
    write_tables(o)

    assert found(o, "virtual_mailbox_domains", "Ostia.Test") == "ostia.test"
    not_found(o, "virtual_mailbox_domains", "closed.test")
    not_found(o, "virtual_mailbox_domains", "example.org")

    assert found(o, "virtual_mailbox_maps", "demo@ostia.test") == \
        "ostia.test/demo/"
    not_found(o, "virtual_mailbox_maps", "off@ostia.test")
    not_found(o, "virtual_mailbox_maps", "x@closed.test")
    not_found(o, "virtual_mailbox_maps", "nobody@ostia.test")

    assert found(o, "virtual_alias_maps", "postmaster@ostia.test") == \
        "demo@ostia.test"
    assert found(o, "virtual_alias_maps", "@ostia.test") == \
        "demo@ostia.test"
    # A mailbox maps to itself: the catch-all does not take its mail.
    assert found(o, "virtual_alias_maps", "demo@ostia.test") == \
        "demo@ostia.test"
    assert found(o, "virtual_alias_maps", "off@ostia.test") == \
        "off@ostia.test"
    not_found(o, "virtual_alias_maps", "nobody@ostia.test")
    not_found(o, "virtual_alias_maps", "@closed.test")

    assert found(o, "smtpd_sender_login_maps", "demo@ostia.test") == \
        "demo@ostia.test"
    assert found(o, "smtpd_sender_login_maps", "postmaster@ostia.test") \
        == "demo@ostia.test"
    assert found(o, "smtpd_sender_login_maps", "@ostia.test") == \
        "demo@ostia.test"
    not_found(o, "smtpd_sender_login_maps", "off@ostia.test")
    not_found(o, "smtpd_sender_login_maps", "x@closed.test")

    h = found(o, "smtpd_sasl_password_maps", "Demo@Ostia.Test")
    assert h.startswith("{SHA512-CRYPT}$6$") and verify_hash(h, "demo")
    not_found(o, "smtpd_sasl_password_maps", "off@ostia.test")
    not_found(o, "smtpd_sasl_password_maps", "x@closed.test")
    not_found(o, "smtpd_sasl_password_maps", "postmaster@ostia.test")
    not_found(o, "smtpd_sasl_password_maps", "' OR '1'='1")

    # Changes show at once; enabling again brings the rows back.
    ok(o, "user", "enable", "off@ostia.test")
    assert found(o, "virtual_mailbox_maps", "off@ostia.test") == \
        "ostia.test/off/"
    assert verify_hash(found(o, "smtpd_sasl_password_maps",
                             "off@ostia.test"), "pw")
    ok(o, "domain", "enable", "closed.test")
    assert found(o, "virtual_mailbox_domains", "closed.test") == \
        "closed.test"

    # Existing files are kept unless --force.
    with open(os.path.join(tables_dir(o), TABLES[0] + ".cf"), "a") as f:
        f.write("# edited\n")
    r = ok(o, "account", "tables", tables_dir(o))
    assert "kept" in r.stderr
    with open(os.path.join(tables_dir(o), TABLES[0] + ".cf")) as f:
        assert f.read().endswith("# edited\n")
    ok(o, "account", "tables", tables_dir(o), "--force")
    with open(os.path.join(tables_dir(o), TABLES[0] + ".cf")) as f:
        assert "# edited" not in f.read()


def test_mail_owner_reads_the_tables(demo):
    """The lookup process reads the database as mail_owner: so can
    `ostia map -q` run as that user; another user cannot."""
    o = demo
    if os.geteuid() != 0:
        pytest.skip("needs root to run as mail_owner and as nobody")
    setpriv = require_peer("setpriv")
    write_tables(o)
    spec = "sqlite:%s/smtpd_sasl_password_maps.cf" % tables_dir(o)

    def as_user(name):
        pw = pwd.getpwnam(name)
        return subprocess.run(
            [setpriv, "--reuid", str(pw.pw_uid), "--regid",
             str(pw.pw_gid), "--clear-groups", o.binary, "map", "-q",
             "demo@ostia.test", spec], capture_output=True, text=True,
            timeout=60, stdin=subprocess.DEVNULL)

    r = as_user(o.user)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("{SHA512-CRYPT}")
    r = as_user("nobody")
    assert r.returncode == EX_TEMPFAIL, r.stdout
    assert "unable to open database" in r.stderr


def test_lookup_process_serves_the_tables(demo):
    o = demo
    write_tables(o)
    o.update_main_cf({t: "sqlite:%s/%s.cf" % (tables_dir(o), t)
                      for t in TABLES})
    o.start_foreground()
    pwspec = "sqlite:%s/smtpd_sasl_password_maps.cf" % tables_dir(o)
    r = o.cli("lookup", "--no-cache", pwspec, "demo@ostia.test")
    assert r.returncode == 0, r.stderr
    assert verify_hash(r.stdout.strip(), "demo")
    r = o.cli("lookup", "--no-cache", "sqlite:%s/virtual_alias_maps.cf"
              % tables_dir(o), "postmaster@ostia.test")
    assert (r.returncode, r.stdout) == (0, "demo@ostia.test\n"), r.stderr
    # A disabled mailbox is gone from the password table at once.
    ok(o, "user", "disable", "demo@ostia.test")
    r = o.cli("lookup", "--no-cache", pwspec, "demo@ostia.test")
    assert (r.returncode, r.stdout) == (1, ""), r.stderr
    o.stop()


# ---------------------------------------------------------------- make run

def test_make_run_env_creates_the_demo_once():
    ostia = os.environ.get("OSTIA_BIN")
    if not ostia:
        pytest.skip("OSTIA_BIN is not set")
    require_peer("openssl")
    script = os.path.join(source_dir(), "scripts", "make-run-env")
    base = tempfile.mkdtemp(prefix="ostia-e2e-runenv-")
    os.chmod(base, 0o755)
    prefix = []
    if os.geteuid() == 0:
        # As root the script's main.cf names mail_owner "ostia"; run it
        # as the test user instead, as a developer without root would.
        from ostia_harness import ensure_test_user
        pw = pwd.getpwnam(ensure_test_user())
        os.chown(base, pw.pw_uid, pw.pw_gid)
        prefix = [require_peer("setpriv"), "--reuid", str(pw.pw_uid),
                  "--regid", str(pw.pw_gid), "--clear-groups"]
    run_dir = os.path.join(base, "run")
    env = dict(os.environ, HOME=base)

    def make_run_env():
        r = subprocess.run([*prefix, "/bin/sh", script, run_dir, ostia],
                           capture_output=True, text=True, timeout=120,
                           stdin=subprocess.DEVNULL, env=env,
                           start_new_session=True)
        assert r.returncode == 0, r.stdout + r.stderr
        return r

    try:
        r = make_run_env()
        assert "demo@ostia.test" in r.stdout and '"demo"' in r.stdout
        etc = os.path.join(run_dir, "etc")
        with open(os.path.join(etc, "main.cf")) as f:
            main_cf = f.read()
        for t in TABLES:
            assert "%s = sqlite:%s/sqlite/%s.cf" % (t, etc, t) in main_cf
            assert os.path.isfile(os.path.join(etc, "sqlite", t + ".cf"))

        def cli(*args, input=None):
            return subprocess.run([*prefix, ostia, "-c", etc, *args],
                                  capture_output=True, text=True,
                                  timeout=60, input=input,
                                  start_new_session=True)
        r = cli("map", "-q", "demo@ostia.test", "sqlite:%s/sqlite/"
                "smtpd_sasl_password_maps.cf" % etc)
        assert r.returncode == 0, r.stderr
        assert verify_hash(r.stdout.strip(), "demo")
        r = cli("map", "-q", "postmaster@ostia.test",
                "sqlite:%s/sqlite/virtual_alias_maps.cf" % etc)
        assert r.stdout == "demo@ostia.test\n", r.stderr
        r = cli("check")
        assert "unknown parameter" not in r.stderr, r.stderr

        # Again: the database exists, nothing is added or reset.
        r = cli("user", "passwd", "demo@ostia.test", "--password-stdin",
                input="mine\n")
        assert r.returncode == 0, r.stderr
        r = make_run_env()
        assert "new account database" not in r.stdout + r.stderr
        r = cli("map", "-q", "demo@ostia.test", "sqlite:%s/sqlite/"
                "smtpd_sasl_password_maps.cf" % etc)
        assert verify_hash(r.stdout.strip(), "mine")
    finally:
        shutil.rmtree(base, ignore_errors=True)
