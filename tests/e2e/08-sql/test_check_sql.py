# SPDX-License-Identifier: MIT
"""`ostia check` on SQL tables: listed without --live; with --live each
is asked once, so that a wrong password, a host that is down or a
query that names a missing column shows before mail arrives (as 451
replies and deferred mail) instead of after.

A private PostgreSQL and MariaDB from tests/e2e/db_servers.py with the
iRedMail-shaped schema; the tables are the configuration's
virtual_mailbox_domains / virtual_mailbox_maps.  No server installed: a
visible skip.
"""

import os
import re

import pytest

import db_servers

DIALECTS = ("pgsql", "mysql")


@pytest.fixture(scope="module", params=DIALECTS)
def db(request):
    srv = db_servers.start_server(request.param)
    try:
        srv.execute(db_servers.iredmail_schema(request.param))
        yield srv
    finally:
        srv.close()


def sql_section(out):
    """The lines of the SQL tables part of the report."""
    i = out.find("\nSQL tables:")
    assert i >= 0, out
    return out[i:]


def table(o, db, name, query=None, text=None):
    path = os.path.join(o.confdir, name + ".cf")
    if text is None:
        text = db_servers.sql_cf_text(
            db, query or db_servers.iredmail_queries(db.dialect)[name])
    db_servers.write_cf(path, text)
    return "%s:%s" % (db.dialect, path)


def test_live_check_asks_each_sql_table(ostia_factory, db):
    o = ostia_factory()
    good = table(o, db, "virtual_mailbox_domains")
    bad_pw = table(o, db, "virtual_mailbox_maps", text=db_servers.sql_cf_text(
        db, db_servers.iredmail_queries(db.dialect)["virtual_mailbox_maps"])
        .replace("password = " + db.password,
                 "password = not-" + db.password))
    o.update_main_cf({"virtual_mailbox_domains": "proxy:" + good,
                      "virtual_mailbox_maps": "proxy:" + bad_pw})

    # Without --live: listed, not asked.
    r = o.cli("check")
    sec = sql_section(r.stdout)
    assert "SQL tables: 2:" in sec, sec
    assert re.search(r"note: %s \(virtual_mailbox_domains\): not asked"
                     % re.escape(good), sec), sec
    assert "0 errors" in sec, sec

    # --live: the good one answers, the one with a wrong password is an
    # error in words, without the password; the exit status says so.
    r = o.cli("check", "--live", timeout=120)
    sec = sql_section(r.stdout)
    assert re.search(r"ok: %s \(virtual_mailbox_domains\): connected, its "
                     r"query ran \(no row for ostia-check@check\.ostia\."
                     r"invalid\)" % re.escape(good), sec), sec
    m = re.search(r"error: %s \(virtual_mailbox_maps\): the lookup fails: "
                  r"(.*); until this is fixed" % re.escape(bad_pw), sec)
    assert m, sec
    assert db.password not in r.stdout + r.stderr
    assert "1 error" in sec, sec
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)


def test_live_check_finds_a_bad_query(ostia_factory, db):
    o = ostia_factory()
    bad = table(o, db, "domains_bad_column",
                query="SELECT domain FROM domain WHERE no_such_column='%s'")
    o.update_main_cf({"virtual_mailbox_domains": "proxy:" + bad})
    r = o.cli("check", "--live", timeout=120)
    sec = sql_section(r.stdout)
    assert re.search(r"error: %s \(virtual_mailbox_domains\): the lookup "
                     r"fails: .*no_such_column" % re.escape(bad), sec), sec
    assert r.returncode == 2
