# SPDX-License-Identifier: MIT
"""pgsql: tables (src/maps/dict_pgsql.c) against a real PostgreSQL server.

A private server from tests/e2e/db_servers.py holds the iRedMail-shaped
schema (db_servers.iredmail_schema); each case writes a pgsql_table(5)
.cf file and asks `ostia map -q KEY pgsql:FILE`, whose exit status says
what the table answered: 0 found (the value on stdout), 1 not found, 75
temporary failure (the reason on stderr).

Cases: found, not found, inactive rows, multi-row results joined with
',', result_format, hostile keys (quotes, backslashes, '%', SQL
comments: looked up as themselves, never run as SQL), the UNIX-domain
socket forms of "hosts", failover (a first host that refuses
connections), an outage (server stopped: 75 naming the table and never
the password; started again: answers), a server restart under one
long-lived `ostia map -q -` (its connection breaks; the next lookup
reconnects), a wrong password (75), a postgresql:// URI.

No PostgreSQL installed, or no `ostia map` in the build: a visible skip.
"""

import os
import socket
import subprocess

import pytest

import db_servers
from ostia_harness import ostia_bin, wait_until

EX_FOUND, EX_NOTFOUND, EX_TEMPFAIL = 0, 1, 75

Q = db_servers.iredmail_queries("pgsql")


@pytest.fixture(scope="module")
def pg():
    srv = db_servers.PostgreSQL.start()
    try:
        srv.execute(db_servers.iredmail_schema("pgsql"))
        yield srv
    finally:
        srv.close()


@pytest.fixture
def cfdir(tmp_path):
    return tmp_path


@pytest.fixture(scope="module")
def ostia():
    return ostia_bin()


def write(cfdir, name, pg, query, hosts=None, extra=None):
    path = os.path.join(str(cfdir), name)
    db_servers.write_cf(path, db_servers.sql_cf_text(pg, query, hosts=hosts,
                                                     extra=extra))
    return path


def query(ostia, key, path, env=None):
    """(exit status, stdout, stderr) of `ostia map -q KEY pgsql:PATH`;
    env: more environment variables."""
    environ = dict(os.environ)
    environ.update(env or {})
    r = subprocess.run([ostia, "map", "-q", key, "pgsql:" + path],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=120,
                       env=environ)
    if r.returncode not in (EX_FOUND, EX_NOTFOUND, EX_TEMPFAIL) and \
            "map" in r.stderr and "unknown" in r.stderr.lower():
        pytest.skip("this ostia has no `ostia map` yet: %s"
                    % r.stderr.strip())
    return r.returncode, r.stdout.rstrip("\n"), r.stderr


def found(ostia, key, path, env=None):
    st, out, err = query(ostia, key, path, env)
    assert st == EX_FOUND, "%r: exit %d, stderr %s" % (key, st, err)
    return out


def assert_notfound(ostia, key, path):
    st, out, err = query(ostia, key, path)
    assert st == EX_NOTFOUND, "%r: exit %d, stdout %r, stderr %s" % (
        key, st, out, err)
    assert out == ""


def assert_tempfail(ostia, key, path, pg):
    st, out, err = query(ostia, key, path)
    assert st == EX_TEMPFAIL, "%r: exit %d, stdout %r, stderr %s" % (
        key, st, out, err)
    assert out == ""
    assert "pgsql:" + path in err
    assert pg.password not in err
    return err


class RefusingPort:
    """A loopback port that refuses connections while this is open: bound,
    never listening."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def close(self):
        self.sock.close()


@pytest.fixture
def dead_port():
    p = RefusingPort()
    yield p.port
    p.close()


# ------------------------------------------------------------- lookups

def test_found(pg, cfdir, ostia):
    path = write(cfdir, "mailbox.cf", pg, Q["virtual_mailbox_maps"])
    assert found(ostia, "alice@example.com", path) == \
        "vmail1/example.com/a/alice/Maildir/"
    # Keys are folded to lower case, as Postfix does for SQL tables.
    assert found(ostia, "Alice@Example.COM", path) == \
        "vmail1/example.com/a/alice/Maildir/"
    path = write(cfdir, "domains.cf", pg, Q["virtual_mailbox_domains"])
    assert found(ostia, "example.com", path) == "example.com"
    # Through an alias domain.
    assert found(ostia, "alias.example", path) == "alias.example"


def test_not_found(pg, cfdir, ostia):
    path = write(cfdir, "mailbox.cf", pg, Q["virtual_mailbox_maps"])
    assert_notfound(ostia, "nobody@example.com", path)
    assert_notfound(ostia, "alice@example.net", path)
    assert_notfound(ostia, "alice", path)
    # %d needs a domain: the query is not even run.
    path = write(cfdir, "transport.cf", pg, Q["transport_maps_user"])
    assert_notfound(ostia, "no-at-sign", path)
    assert found(ostia, "bob@example.com", path) == "lmtp:unix:private/special"


def test_inactive_rows(pg, cfdir, ostia):
    mbox = write(cfdir, "mailbox.cf", pg, Q["virtual_mailbox_maps"])
    assert_notfound(ostia, "carol@example.com", mbox)     # mailbox off
    assert_notfound(ostia, "dave@inactive.test", mbox)    # domain off
    alias = write(cfdir, "alias.cf", pg, Q["virtual_alias_maps"])
    assert_notfound(ostia, "old@example.com", alias)      # alias off
    domains = write(cfdir, "domains.cf", pg, Q["virtual_mailbox_domains"])
    assert_notfound(ostia, "inactive.test", domains)
    assert_notfound(ostia, "deadalias.example", domains)
    assert_notfound(ostia, "backup.test", domains)        # backup MX
    relay = write(cfdir, "relay.cf", pg, Q["relay_domains"])
    assert found(ostia, "backup.test", relay) == "backup.test"
    bcc = write(cfdir, "bcc.cf", pg, Q["sender_bcc_maps_user"])
    assert found(ostia, "alice@example.com", bcc) == "alice-sent@example.com"
    assert_notfound(ostia, "bob@example.com", bcc)


def test_multi_row(pg, cfdir, ostia):
    path = write(cfdir, "alias.cf", pg, Q["virtual_alias_maps"])
    assert found(ostia, "sales@example.com", path) == \
        "alice@example.com,bob@example.com,carol@example.com"
    assert found(ostia, "bob@example.com", path) == \
        "bob@elsewhere.test,bob@example.com"
    # One row per member, result_format applied to each.
    path = write(cfdir, "fmt.cf", pg, Q["virtual_alias_maps"],
                 extra={"result_format": "<%s>"})
    assert found(ostia, "sales@example.com", path) == \
        "<alice@example.com>,<bob@example.com>,<carol@example.com>"
    # expansion_limit: more results than allowed is a temporary error.
    path = write(cfdir, "limit.cf", pg, Q["virtual_alias_maps"],
                 extra={"expansion_limit": "2"})
    err = assert_tempfail(ostia, "sales@example.com", path, pg)
    assert "expansion_limit" in err
    assert found(ostia, "alice@example.com", path) == "alice@example.com"


HOSTILE_NOTFOUND = [
    "x' OR '1'='1",
    "alice@example.com' --",
    "alice@example.com'; DROP TABLE mailbox; --",
    "'; DELETE FROM mailbox; SELECT '",
    "alice@example.com\\",
    "\\'; select 1; --",
    "%",
    "%s",
    "$1",
    "alice@example.com' OR username LIKE '%",
    "\"alice@example.com\"",
]


def test_hostile_keys(pg, cfdir, ostia):
    path = write(cfdir, "mailbox.cf", pg, Q["virtual_mailbox_maps"])
    # Keys with SQL-special characters find their own rows.
    assert found(ostia, "o'brien@example.com", path) == \
        "vmail1/example.com/o/obrien/Maildir/"
    assert found(ostia, "back\\slash@example.com", path) == \
        "vmail1/example.com/b/backslash/Maildir/"
    assert found(ostia, "100%@example.com", path) == \
        "vmail1/example.com/p/percent/Maildir/"
    for key in HOSTILE_NOTFOUND:
        assert_notfound(ostia, key, path)
    # The same through %u and %d, each a parameter of its own.
    alias = write(cfdir, "alias.cf", pg, Q["virtual_alias_maps"])
    assert found(ostia, "o'brien@example.com", alias) == \
        "o'brien@example.com"
    assert_notfound(ostia, "x' OR 'a'='a@example.com' OR 'a'='a", alias)
    # Nothing was run as SQL: the rows are all still there.
    rows = pg.execute("SELECT count(*) FROM mailbox")
    assert rows == [["7"]]
    assert found(ostia, "alice@example.com", path) == \
        "vmail1/example.com/a/alice/Maildir/"


# ------------------------------------------------------------- hosts

def test_unix_socket_forms(pg, cfdir, ostia):
    # The socket itself: directory and port taken from its name.
    path = write(cfdir, "sock.cf", pg, Q["virtual_mailbox_maps"],
                 hosts=["unix:" + pg.socket_file])
    assert found(ostia, "alice@example.com", path) == \
        "vmail1/example.com/a/alice/Maildir/"
    # The directory: libpq names the socket after its default port,
    # which PGPORT sets (the test server is not on 5432).
    path = write(cfdir, "dir.cf", pg, Q["virtual_mailbox_maps"],
                 hosts=["unix:" + pg.socket])
    assert found(ostia, "alice@example.com", path,
                 env={"PGPORT": str(pg.port)}) == \
        "vmail1/example.com/a/alice/Maildir/"


def test_uri(pg, cfdir, ostia):
    uri = "postgresql://%s@127.0.0.1:%d/%s?sslmode=disable" % (
        pg.user, pg.port, pg.dbname)
    path = write(cfdir, "uri.cf", pg, Q["virtual_mailbox_maps"], hosts=[uri])
    assert found(ostia, "alice@example.com", path) == \
        "vmail1/example.com/a/alice/Maildir/"


def test_failover(pg, cfdir, ostia, dead_port):
    hosts = ["inet:127.0.0.1:%d" % dead_port, pg.hosts_entry("inet")]
    path = write(cfdir, "failover.cf", pg, Q["virtual_mailbox_maps"],
                 hosts=hosts)
    # Hosts are tried in random order: ask often enough that the dead
    # one comes first in some of the runs (each is a fresh process).
    for _ in range(8):
        assert found(ostia, "alice@example.com", path) == \
            "vmail1/example.com/a/alice/Maildir/"
    # Deterministic: UNIX-domain sockets are tried before TCP, so the
    # missing socket always fails first and the TCP host must answer.
    dead_sock = os.path.join(str(cfdir), ".s.PGSQL.%d" % pg.port)
    path = write(cfdir, "failover2.cf", pg, Q["virtual_mailbox_maps"],
                 hosts=[pg.hosts_entry("inet"), "unix:" + dead_sock])
    assert found(ostia, "alice@example.com", path) == \
        "vmail1/example.com/a/alice/Maildir/"
    # Only the dead host: a temporary failure that names it.
    path = write(cfdir, "dead.cf", pg, Q["virtual_mailbox_maps"],
                 hosts=hosts[:1])
    err = assert_tempfail(ostia, "alice@example.com", path, pg)
    assert "127.0.0.1:%d" % dead_port in err


def test_wrong_password(pg, cfdir, ostia):
    text = db_servers.sql_cf_text(pg, Q["virtual_mailbox_maps"]).replace(
        "password = " + pg.password, "password = not-" + pg.password)
    path = db_servers.write_cf(os.path.join(str(cfdir), "badpw.cf"), text)
    st, out, err = query(ostia, "alice@example.com", path)
    assert st == EX_TEMPFAIL, err
    assert "pgsql:" + path in err
    assert pg.password not in err


def test_outage(pg, cfdir, ostia):
    tcp = write(cfdir, "tcp.cf", pg, Q["virtual_mailbox_maps"])
    unix = write(cfdir, "unix.cf", pg, Q["virtual_mailbox_maps"],
                 hosts=["unix:" + pg.socket_file])
    for path in (tcp, unix):
        assert found(ostia, "alice@example.com", path)
    pg.stop()
    try:
        for path in (tcp, unix):
            assert_tempfail(ostia, "alice@example.com", path, pg)
            # Never "not found" while the server is away.
            assert_tempfail(ostia, "nobody@example.com", path, pg)
    finally:
        pg.start()
    for path in (tcp, unix):
        assert found(ostia, "alice@example.com", path) == \
            "vmail1/example.com/a/alice/Maildir/"
        assert_notfound(ostia, "nobody@example.com", path)


def test_reconnect_after_restart(pg, cfdir, ostia):
    """One process keeps one connection; the server restarts between two
    lookups; the second finds the connection broken, reconnects and
    answers.  (`ostia map -q -` stops at the first temporary failure, so
    exit 0 with both answers means no lookup failed.)"""
    path = write(cfdir, "long.cf", pg, Q["virtual_mailbox_maps"])
    p = subprocess.Popen([ostia, "map", "-q", "-", "pgsql:" + path],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        p.stdin.write("alice@example.com\n")
        p.stdin.flush()

        def answered():
            return pg.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = '%s' "
                "AND state = 'idle' AND query LIKE 'SELECT%%'" % pg.user
            ) == [["1"]]
        wait_until(answered, timeout=60, what="ostia's first query")
        pg.stop()
        pg.start()
        out, err = p.communicate("bob@example.com\n", timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    assert out.splitlines() == [
        "alice@example.com vmail1/example.com/a/alice/Maildir/",
        "bob@example.com vmail1/example.com/b/bob/Maildir/"]
    assert "lost the connection" in err
    assert pg.password not in err
