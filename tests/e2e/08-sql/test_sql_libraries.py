# SPDX-License-Identifier: MIT
"""Which processes map the SQL client libraries (src/maps/sql_dl.h).

libpq and libmariadb are loaded at run time, only by a process that
opens a pgsql: or mysql: table.  A running instance whose configuration
names such a table is checked through /proc/PID/maps: the lookup process
maps the library its tables need (and answers from a real PostgreSQL
server through it, after dropping privileges), while the smtpd process
maps neither library nor what they pull in (GnuTLS, Kerberos, LDAP).
Without SQL tables no process maps them.

No PostgreSQL installed: a visible skip (the mysql: case needs no
server: its table names a closed port, and the library is loaded when
the table is opened, not at the first lookup).
"""

import os
import socket

import pytest

import db_servers
from ostia_harness import wait_until

# Libraries only the SQL client libraries bring into a process.
SQL_ONLY = ("libpq.so", "libmariadb.so", "libgnutls.so", "libkrb5.so",
            "libgssapi_krb5.so", "libldap", "libp11-kit.so")


def mapped_libraries(pid):
    """Base names of the shared objects mapped in process pid."""
    out = set()
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 6 and ".so" in fields[5]:
                out.add(os.path.basename(fields[5]))
    return out


def has(libs, prefix):
    return any(name.startswith(prefix) for name in libs)


def children(o):
    """{"smtpd": [pids], "lookup": [pids]} among the master's children,
    by their command line (`ostia -c DIR child SERVICE TYPE NLISTEN`)."""
    out = {"smtpd": [], "lookup": []}
    for pid in o.child_pids():
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"child" not in argv:
            continue
        i = argv.index(b"child")
        if argv[i + 2:i + 3] == [b"inet"]:
            out["smtpd"].append(pid)
        elif argv[i + 1:i + 2] == [b"lookup"]:
            out["lookup"].append(pid)
    return out


def running(o):
    """Start o and wait for its smtpd and lookup processes; return
    children(o)."""
    o.start_foreground()

    def both():
        c = children(o)
        return c if c["smtpd"] and c["lookup"] else None
    wait_until(both, what="an smtpd and a lookup process")
    # Connect once so that the smtpd process has served a session.
    with o.smtp() as c:
        c.expect(220)
        c.command("QUIT", expect=221)
    return both()


def assert_no_sql_libraries(pid, what):
    libs = mapped_libraries(pid)
    bad = sorted(n for n in libs if any(n.startswith(p) for p in SQL_ONLY))
    assert not bad, "%s (pid %d) maps %s" % (what, pid, ", ".join(bad))


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def pg():
    srv = db_servers.PostgreSQL.start()
    try:
        srv.execute(db_servers.iredmail_schema("pgsql"))
        yield srv
    finally:
        srv.close()


def test_pgsql_table_only_the_lookup_process_maps_libpq(ostia_factory, pg):
    o = ostia_factory()
    path = os.path.join(o.confdir, "domains.cf")
    db_servers.write_cf(path, db_servers.sql_cf_text(
        pg, db_servers.iredmail_queries("pgsql")["virtual_mailbox_domains"]))
    table = "pgsql:" + path
    o.update_main_cf({"virtual_mailbox_domains": "proxy:" + table})
    procs = running(o)

    # The lookup process answers through the libpq it loaded before
    # dropping privileges.
    r = o.cli("lookup", table, "example.com")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "example.com"

    for pid in procs["lookup"]:
        libs = mapped_libraries(pid)
        assert has(libs, "libpq.so.5"), sorted(libs)
        assert not has(libs, "libmariadb.so"), sorted(libs)
    for pid in procs["smtpd"]:
        assert_no_sql_libraries(pid, "smtpd")


def test_mysql_table_only_the_lookup_process_maps_libmariadb(ostia_factory):
    o = ostia_factory()
    path = os.path.join(o.confdir, "access.cf")
    db_servers.write_cf(path, "hosts = inet:127.0.0.1:%d\nuser = u\n"
                        "password = secret\ndbname = d\n"
                        "query = SELECT x FROM t WHERE k='%%s'\n"
                        % closed_port())
    table = "mysql:" + path
    o.update_main_cf({"smtpd_client_restrictions":
                      "check_client_access " + table + ", permit"})
    procs = running(o)

    # Opened (the library loaded), and a lookup error, never "not found".
    r = o.cli("lookup", table, "192.0.2.1")
    assert r.returncode == 75, (r.returncode, r.stdout, r.stderr)
    assert "cannot connect" in r.stderr
    assert "secret" not in r.stderr

    for pid in procs["lookup"]:
        libs = mapped_libraries(pid)
        assert has(libs, "libmariadb.so.3"), sorted(libs)
        assert not has(libs, "libpq.so"), sorted(libs)
    for pid in procs["smtpd"]:
        assert_no_sql_libraries(pid, "smtpd")


def test_no_sql_table_no_process_maps_them(ostia_factory):
    o = ostia_factory()
    procs = running(o)
    for pid in procs["smtpd"] + procs["lookup"]:
        assert_no_sql_libraries(pid, "child")
    assert_no_sql_libraries(o.master_pid(), "master")
