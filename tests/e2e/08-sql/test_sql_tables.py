# SPDX-License-Identifier: MIT
"""SQL lookup tables against real databases: `ostia map -q KEY type:FILE.cf`.

The iRedMail-shaped vmail database (db_servers.iredmail_schema) is loaded
into each dialect in DIALECTS, and the same table tests run against every
one of them with iRedMail-shaped .cf files (db_servers.iredmail_queries):
found, not found, inactive rows, multi-row results, keys with quotes,
backslashes and percent signs that must be found as themselves, and
hostile keys that would be SQL injection if pasted into the query: they
must simply not be found, and the tables stay intact.

For the network dialects (NET_DIALECTS) also: the server stopped ->
TEMPFAIL (exit 75, the reason on stderr, never the password); started
again -> found again by the same running `ostia map -q -` process (it
reconnects; nothing restarted); failover from a dead first host to a
live one, and from a server stopped under a running process to a second
server; UNIX-domain sockets; bad password and bad SQL -> TEMPFAIL.

To add a dialect (pgsql): append it to DIALECTS (and NET_DIALECTS);
db_servers.py already knows how to start it and write its .cf files.

A missing server program skips that dialect's tests, visibly.
"""

import os
import shutil
import subprocess
import tempfile

import pytest

import db_servers
from ostia_harness import ostia_bin, wait_until

# The table types tested here; maps-pgsql appends "pgsql".
DIALECTS = ["sqlite", "mysql", "pgsql"]
# Those that talk to a server: outage and failover tests.
NET_DIALECTS = ["mysql", "pgsql"]

EXIT_FOUND, EXIT_NOTFOUND, EXIT_TEMPFAIL = 0, 1, 75
RUN_TIMEOUT = 60


# ---------------------------------------------------------------- helpers

def run_map(args, input_=None):
    """Run `ostia map ARGS`; return (status, stdout, stderr) as text."""
    r = subprocess.run([ostia_bin(), "map"] + args, input=input_,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=RUN_TIMEOUT)
    return (r.returncode, r.stdout.decode("utf-8", "replace"),
            r.stderr.decode("utf-8", "replace"))


def query(spec, key):
    """`ostia map -q KEY SPEC` -> (status, value or None, stderr)."""
    if isinstance(key, str):
        key = key.encode("utf-8")
    # A key starting with '-' would be read as an option.
    assert not key.startswith(b"-")
    r = subprocess.run([ostia_bin(), "map", "-q", key, spec],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=RUN_TIMEOUT)
    out = r.stdout.decode("utf-8", "replace")
    value = out[:-1] if out.endswith("\n") else out
    return r.returncode, (value if r.returncode == 0 else None), \
        r.stderr.decode("utf-8", "replace")


def values(v):
    """A comma-separated result as a sorted list (row order aside)."""
    return sorted(v.split(",")) if v is not None else None


class Tables:
    """.cf files for one database in a fresh directory."""

    def __init__(self, server):
        self.server = server
        self.dir = tempfile.mkdtemp(prefix="ostia-sqlcf-")
        self.dialect = server.dialect

    def cf(self, name, query_text, hosts=None, extra=None):
        path = os.path.join(self.dir, name + ".cf")
        db_servers.write_cf(path, db_servers.sql_cf_text(
            self.server, query_text, hosts=hosts, extra=extra))
        return "%s:%s" % (self.dialect, path)

    def iredmail(self, name, **kw):
        return self.cf(name, db_servers.iredmail_queries(self.dialect)[name],
                       **kw)

    def close(self):
        if not os.environ.get("OSTIA_E2E_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)


def _start(dialect):
    srv = db_servers.start_server(dialect)
    try:
        srv.execute(db_servers.iredmail_schema(dialect))
    except BaseException:
        srv.close()
        raise
    return srv


@pytest.fixture(scope="module", params=DIALECTS)
def db(request):
    """A started database with the iRedMail schema, one per dialect."""
    srv = _start(request.param)
    yield srv
    srv.close()


@pytest.fixture
def make_tables():
    """Tables(server) with its directory removed at teardown."""
    made = []

    def make(server):
        made.append(Tables(server))
        return made[-1]

    yield make
    for t in made:
        t.close()


@pytest.fixture
def tables(db, make_tables):
    return make_tables(db)


def counts(srv):
    return {t: srv.execute("SELECT count(*) FROM %s" % t)[0][0]
            for t in db_servers.IREDMAIL_TABLE_NAMES}


# ---------------------------------------------------------------- tables

# (table, key, expected values sorted, or None for not found)
IREDMAIL_CASES = [
    ("virtual_mailbox_domains", "example.com", ["example.com"]),
    ("virtual_mailbox_domains", "alias.example", ["alias.example"]),
    ("virtual_mailbox_domains", "inactive.test", None),
    ("virtual_mailbox_domains", "backup.test", None),
    ("virtual_mailbox_domains", "deadalias.example", None),
    ("virtual_mailbox_domains", "nowhere.example", None),
    ("relay_domains", "backup.test", ["backup.test"]),
    ("relay_domains", "example.com", None),
    ("transport_maps_domain", "example.com", ["dovecot"]),
    ("transport_maps_domain", "inactive.test", None),
    ("transport_maps_user", "bob@example.com", ["lmtp:unix:private/special"]),
    ("transport_maps_user", "alice@example.com", None),   # empty transport
    ("transport_maps_user", "bob", None),                 # %d: no domain
    ("virtual_mailbox_maps", "alice@example.com",
     ["vmail1/example.com/a/alice/Maildir/"]),
    ("virtual_mailbox_maps", "ALICE@Example.COM",
     ["vmail1/example.com/a/alice/Maildir/"]),
    ("virtual_mailbox_maps", "carol@example.com", None),  # inactive
    ("virtual_mailbox_maps", "dave@inactive.test", None),  # domain inactive
    ("virtual_mailbox_maps", "nobody@example.com", None),
    ("virtual_alias_maps", "sales@example.com",
     ["alice@example.com", "bob@example.com", "carol@example.com"]),
    ("virtual_alias_maps", "bob@example.com",
     ["bob@elsewhere.test", "bob@example.com"]),
    ("virtual_alias_maps", "old@example.com", None),      # inactive alias
    ("domain_alias_maps", "sales@alias.example",
     ["alice@example.com", "bob@example.com", "carol@example.com"]),
    ("domain_alias_maps", "alice@alias.example", ["alice@example.com"]),
    ("domain_alias_maps", "sales@deadalias.example", None),
    ("domain_alias_maps", "@alias.example", None),        # %u: empty
    ("catchall_maps", "anyone@example.net", ["postmaster@example.com"]),
    ("catchall_maps", "anyone@example.com", None),
    ("domain_alias_catchall_maps", "anyone@alias.example", None),
    ("sender_login_maps", "alice@example.com", ["alice@example.com"]),
    ("sender_login_maps", "sales@example.com",
     ["alice@example.com", "bob@example.com", "carol@example.com"]),
    ("sender_login_maps", "carol@example.com", None),
    ("sender_bcc_maps_user", "alice@example.com", ["alice-sent@example.com"]),
    ("sender_bcc_maps_user", "bob@example.com", None),
    ("sender_bcc_maps_domain", "anyone@example.com", ["archive@example.com"]),
    ("sender_bcc_maps_domain", "anyone@example.net", None),
    ("sender_bcc_maps_domain", "example.com", None),     # %d: no '@'
    ("recipient_bcc_maps_user", "alice@example.com", ["alice-in@example.com"]),
    ("recipient_bcc_maps_user", "bob@example.com", None),
    ("recipient_bcc_maps_domain", "x@example.com", ["archive-in@example.com"]),
    ("recipient_bcc_maps_domain", "x@example.net", None),
    # Keys with SQL-special characters are data, found as themselves.
    ("virtual_mailbox_maps", "o'brien@example.com",
     ["vmail1/example.com/o/obrien/Maildir/"]),
    ("virtual_mailbox_maps", "back\\slash@example.com",
     ["vmail1/example.com/b/backslash/Maildir/"]),
    ("virtual_mailbox_maps", "100%@example.com",
     ["vmail1/example.com/p/percent/Maildir/"]),
    ("virtual_alias_maps", "o'brien@example.com", ["o'brien@example.com"]),
    ("virtual_mailbox_maps", "o'brien@alias.example", None),
]


def test_iredmail_tables(tables):
    failures = []
    for name, key, want in IREDMAIL_CASES:
        spec = tables.iredmail(name)
        status, value, err = query(spec, key)
        if want is None:
            ok = status == EXIT_NOTFOUND
        else:
            ok = status == EXIT_FOUND and values(value) == want
        if not ok:
            failures.append("%s %r: want %s, got status %d value %r %s"
                            % (name, key, want, status, value, err.strip()))
    assert not failures, "\n".join(failures)


def test_multi_row_order_and_format(tables):
    # Rows joined in the query's order, each through result_format.
    spec = tables.iredmail("virtual_alias_maps")
    assert query(spec, "bob@example.com")[:2] == (
        EXIT_FOUND, "bob@elsewhere.test,bob@example.com")
    spec = tables.cf("fmt", db_servers.iredmail_queries(tables.dialect)
                     ["virtual_alias_maps"],
                     extra={"result_format": "%u at %d for %U"})
    assert query(spec, "sales@example.com")[:2] == (
        EXIT_FOUND, "alice at example.com for sales,"
        "bob at example.com for sales,carol at example.com for sales")


def test_expansion_limit_is_tempfail(tables):
    spec = tables.cf("limit", db_servers.iredmail_queries(tables.dialect)
                     ["virtual_alias_maps"], extra={"expansion_limit": "2"})
    status, value, err = query(spec, "sales@example.com")
    assert status == EXIT_TEMPFAIL, (status, value, err)
    assert "expansion_limit" in err
    assert query(spec, "bob@example.com")[0] == EXIT_FOUND


def test_domain_rule(tables):
    spec = tables.cf("dom", db_servers.iredmail_queries(tables.dialect)
                     ["virtual_mailbox_maps"],
                     extra={"domain": "example.com"})
    assert query(spec, "alice@example.com")[0] == EXIT_FOUND
    # Not listed, or not user@domain: not even asked.
    assert query(spec, "dave@inactive.test")[0] == EXIT_NOTFOUND
    assert query(spec, "example.com")[0] == EXIT_NOTFOUND
    assert query(spec, "@example.com")[0] == EXIT_NOTFOUND


def test_non_utf8_key_not_found(tables):
    spec = tables.iredmail("virtual_mailbox_maps")
    status, value, err = query(spec, b"al\xffice@example.com")
    assert status == EXIT_NOTFOUND, (status, value, err)


# Each would find something (or break something) if it were pasted into
# the query text.
HOSTILE_KEYS = [
    "x' OR '1'='1",
    "x' OR 1=1 -- ",
    "x' OR 1=1 #",
    "alice@example.com' OR 'a'='a",
    "' UNION SELECT password FROM mailbox WHERE username='alice@example.com",
    "x' UNION SELECT password FROM mailbox -- ",
    "x'; DROP TABLE mailbox; -- ",
    "x'; DELETE FROM forwardings; -- ",
    "x\\' OR 1=1 -- ",
    "x\\\\' OR 1=1 -- ",
    "x\" OR \"1\"=\"1",
    "x' OR username LIKE '%",
    "%", "_", "?", "$1", "'", "''", "\\",
    "alice@example.com' -- ",
    "alice@example.com'/*",
    "alice@example.com\x1a' OR 1=1 -- ",
    "alice@example.com\r' OR 1=1 -- ",
]


def test_hostile_keys_not_found(tables, db):
    before = counts(db)
    specs = {name: tables.iredmail(name) for name in
             ("virtual_mailbox_maps", "virtual_alias_maps",
              "domain_alias_maps", "sender_login_maps",
              "virtual_mailbox_domains")}
    # An expansion outside quotes in the query is quoted by us (mysql) or
    # bound (sqlite, pgsql): still never SQL.
    specs["unquoted"] = tables.cf(
        "unquoted", "SELECT maildir FROM mailbox WHERE username = %s")
    failures = []
    for name, spec in specs.items():
        for key in HOSTILE_KEYS + [k + "@example.com" for k in HOSTILE_KEYS]:
            status, value, err = query(spec, key)
            if status != EXIT_NOTFOUND:
                failures.append("%s %r: status %d value %r %s"
                                % (name, key, status, value, err.strip()))
    assert not failures, "\n".join(failures)
    assert counts(db) == before
    # The tables still answer.
    assert query(specs["unquoted"], "alice@example.com")[:2] == (
        EXIT_FOUND, "example.com/a/alice")
    assert query(specs["virtual_mailbox_maps"], "alice@example.com")[0] == \
        EXIT_FOUND


# ---------------------------------------------------------------- network

@pytest.fixture(params=NET_DIALECTS)
def net_db(request):
    """A private server per test (these tests stop it)."""
    srv = _start(request.param)
    yield srv
    srv.close()


def _sessions(srv):
    """Connections of the test user on srv: list of (id, command)."""
    if srv.dialect == "mysql":
        rows = srv.execute(
            "SELECT id, command FROM information_schema.processlist "
            "WHERE user = '%s'" % srv.user)
    else:
        rows = srv.execute(
            "SELECT pid, state FROM pg_stat_activity WHERE usename = '%s'"
            % srv.user, db="postgres")
    return rows


def _idle_session(srv):
    """True when the test user has a connection that is idle (its query
    answered)."""
    return any(cmd in ("Sleep", "idle") for _, cmd in _sessions(srv))


class MapProcess:
    """A running `ostia map -q - SPEC`, fed keys one at a time."""

    def __init__(self, spec):
        self.p = subprocess.Popen([ostia_bin(), "map", "-q", "-", spec],
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)

    def send(self, key):
        self.p.stdin.write(key.encode() + b"\n")
        self.p.stdin.flush()

    def finish(self):
        out, err = self.p.communicate(timeout=RUN_TIMEOUT)
        return self.p.returncode, out.decode(), err.decode()

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def test_outage_tempfail_then_recovery(net_db, make_tables):
    t = make_tables(net_db)
    spec = t.iredmail("virtual_mailbox_maps", extra={"retry_interval": "1"})
    want = "vmail1/example.com/a/alice/Maildir/"
    assert query(spec, "alice@example.com")[:2] == (EXIT_FOUND, want)

    # A running process with an open connection...
    proc = MapProcess(spec)
    try:
        proc.send("alice@example.com")
        wait_until(lambda: _idle_session(net_db), timeout=30,
                   what="the first lookup's connection to go idle")
        # ...the server goes away: a fresh lookup cannot be answered.
        net_db.stop()
        status, value, err = query(spec, "alice@example.com")
        assert status == EXIT_TEMPFAIL, (status, value, err)
        assert "cannot connect to any host" in err
        assert "127.0.0.1:%d" % net_db.port in err
        assert net_db.password not in err
        # Back again: the same process reconnects by itself.
        net_db.start()
        proc.send("bob@example.com")
        status, out, err = proc.finish()
    finally:
        proc.kill()
    assert status == EXIT_FOUND, (status, out, err)
    assert out == ("alice@example.com %s\nbob@example.com "
                   "vmail1/example.com/b/bob/Maildir/\n" % want)
    assert query(spec, "alice@example.com")[:2] == (EXIT_FOUND, want)


def test_failover_dead_first_host(net_db, make_tables):
    t = make_tables(net_db)
    dead = "inet:127.0.0.1:%d" % db_servers.free_port()
    live = net_db.hosts_entry("inet")
    for hosts in ([dead, live], [live, dead]):
        spec = t.iredmail("virtual_mailbox_maps", hosts=hosts)
        assert query(spec, "alice@example.com")[0] == EXIT_FOUND, hosts
    # Every host dead: TEMPFAIL naming each, never the password.
    dead2 = "inet:127.0.0.1:%d" % db_servers.free_port()
    spec = t.iredmail("virtual_mailbox_maps", hosts=[dead, dead2])
    status, value, err = query(spec, "alice@example.com")
    assert status == EXIT_TEMPFAIL, (status, value, err)
    assert "cannot connect to any host" in err
    # Each host named (as written, or as host:port).
    assert dead.split(":", 1)[1] in err and dead2.split(":", 1)[1] in err
    assert net_db.password not in err


def test_unix_socket_host(net_db, make_tables):
    t = make_tables(net_db)
    spec = t.iredmail("virtual_mailbox_maps",
                      hosts=[net_db.hosts_entry("unix")])
    assert query(spec, "alice@example.com")[0] == EXIT_FOUND


def test_failover_to_second_server(net_db, make_tables):
    """Two servers with the same data; the one in use stops under a
    running process: the next key is answered by the other."""
    other = _start(net_db.dialect)
    try:
        # The same credentials on both, so one .cf reaches either.
        other.execute(_same_user_sql(other, net_db))
        t = make_tables(net_db)
        spec = t.iredmail("virtual_mailbox_maps",
                          hosts=[net_db.hosts_entry("inet"),
                                 other.hosts_entry("inet")])
        proc = MapProcess(spec)
        try:
            proc.send("alice@example.com")
            used = wait_until(
                lambda: (net_db if _idle_session(net_db) else
                         other if _idle_session(other) else None),
                timeout=30, what="a connection to either server")
            used.stop()
            proc.send("bob@example.com")
            status, out, err = proc.finish()
        finally:
            proc.kill()
        assert status == EXIT_FOUND, (status, out, err)
        assert "bob@example.com vmail1/example.com/b/bob/Maildir/" in out
        assert out.startswith("alice@example.com vmail1/")
    finally:
        other.close()


def _same_user_sql(srv, like):
    if srv.dialect == "mysql":
        q = db_servers.sql_str("mysql", like.password)
        return ("ALTER USER '%s'@'127.0.0.1' IDENTIFIED BY %s;\n"
                "ALTER USER '%s'@'localhost' IDENTIFIED BY %s;\n"
                % (srv.user, q, srv.user, q))
    return "ALTER ROLE %s PASSWORD %s;" % (
        srv.user, db_servers.sql_str("pgsql", like.password))


def test_bad_password_and_bad_sql(net_db, make_tables):
    t = make_tables(net_db)
    spec = t.iredmail("virtual_mailbox_maps")
    path = spec.split(":", 1)[1]
    with open(path) as f:
        text = f.read()
    bad = text.replace("password = %s" % net_db.password,
                       "password = wrong-secret-42")
    assert bad != text
    db_servers.write_cf(path, bad)
    status, value, err = query(spec, "alice@example.com")
    assert status == EXIT_TEMPFAIL, (status, value, err)
    assert "wrong-secret-42" not in err
    assert "cannot connect to any host" in err

    spec = t.cf("badsql", "SELECT maildir FROM nosuchtable WHERE "
                "username='%s'")
    status, value, err = query(spec, "alice@example.com")
    assert status == EXIT_TEMPFAIL, (status, value, err)
    assert "nosuchtable" in err
    assert net_db.password not in err
