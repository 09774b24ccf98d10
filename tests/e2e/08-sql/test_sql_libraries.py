# SPDX-License-Identifier: MIT
"""Which processes map the SQL client libraries (src/maps/sql_dl.h).

libpq and libmariadb are loaded at run time, only by a process that
opens a pgsql: or mysql: table.  A running instance whose configuration
names such a table is checked through /proc/PID/maps: the lookup process
maps the library its tables need (and answers from a real PostgreSQL
server through it, after dropping privileges), while the smtpd process
maps neither library nor what they pull in (GnuTLS, Kerberos, LDAP).
Neither does the master, which checks the tables at start and reload in
a child process of its own.  Without SQL tables no process maps them.

No PostgreSQL installed: a visible skip (the mysql: case needs no
server: its table names a closed port, and the library is loaded when
the table is opened, not at the first lookup).
"""

import os
import re
import signal
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


def mysql_access_table(o):
    """A mysql: table (its server: a closed port) as smtpd's client
    access check; returns (table, path of its .cf file)."""
    path = os.path.join(o.confdir, "access.cf")
    db_servers.write_cf(path, "hosts = inet:127.0.0.1:%d\nuser = u\n"
                        "password = secret\ndbname = d\n"
                        "query = SELECT x FROM t WHERE k='%%s'\n"
                        % closed_port())
    table = "mysql:" + path
    o.update_main_cf({"smtpd_client_restrictions":
                      "check_client_access " + table + ", permit"})
    return table, path


def test_mysql_table_only_the_lookup_process_maps_libmariadb(ostia_factory):
    o = ostia_factory()
    table, _path = mysql_access_table(o)
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


def test_master_checks_the_tables_apart_and_maps_no_sql_library(
        ostia_factory):
    """The master opens every table before it starts or reloads, in a
    child process: it never maps libmariadb itself, and the child's
    errors reach the master's log (a reload refused, naming the
    table)."""
    o = ostia_factory()
    table, path = mysql_access_table(o)
    procs = running(o)
    master = o.master_pid()
    assert_no_sql_libraries(master, "master")
    # A lookup answered means the lookup process has opened its tables
    # (it may still be starting when its pid first shows, under ASan).
    r = o.cli("lookup", table, "192.0.2.1")
    assert r.returncode == 75, (r.returncode, r.stdout, r.stderr)
    for pid in procs["lookup"]:
        assert has(mapped_libraries(pid), "libmariadb.so.3")

    # A table that no longer opens: the reload is refused with the
    # reason found by the check's process.
    db_servers.write_cf(path, "hosts = inet:127.0.0.1:1\nuser = u\n"
                        "password = secret\ndbname = d\n")
    mark = o.log_mark()
    os.kill(master, signal.SIGHUP)
    m = o.wait_for_log(r"ostia/master\[%d\]: error: (.*%s.*)"
                       % (master, re.escape(path)), start=mark)
    assert "secret" not in m.group(1)
    o.wait_for_log(r"reload refused: the configuration in .* has 1 error",
                   start=mark)
    assert_no_sql_libraries(master, "master")
    assert o.master_pid() == master
    with o.smtp() as c:
        c.expect(220)
        c.command("QUIT", expect=221)
