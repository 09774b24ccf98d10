# SPDX-License-Identifier: MIT
"""The lookup process: one process the master always starts, serving
every table named by a lookup-table parameter (src/lookup/).

Driven through `ostia lookup TABLE KEY...` (the blocking client): found,
not found, proxy: and plain names for one table, a table nobody named,
a file that changes, a table that fails and recovers, a killed lookup
process, a table with a syntax error, SIGHUP.
"""

import os
import re
import signal
import sqlite3
import stat

import pytest

from ostia_harness import wait_until

EX_TEMPFAIL = 75


def write_table(path, text):
    """Replace a table file atomically (as an admin's editor or script
    would), so the lookup process sees a new file."""
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)


def lookup(o, table, *keys, no_cache=False):
    args = ["lookup"] + (["--no-cache"] if no_cache else []) + [table]
    return o.cli(*args, *keys)


def service_pid(o, name):
    """The pid of the single child of internal service `name`, once it
    is ready, or None."""
    st = o.cli("status").stdout
    for line in st.splitlines():
        if line.startswith("service %s/internal " % name):
            m = re.search(r"ready=1 .* pids=(\d+)$", line)
            return int(m.group(1)) if m else None
    return None


@pytest.fixture
def lk(ostia_factory):
    o = ostia_factory()
    etc = o.confdir
    o.virtual = os.path.join(etc, "virtual")
    o.transport = os.path.join(etc, "transport")
    write_table(o.virtual, "a@example.com b@example.com\n"
                "# comment\nalias@example.org  x@example.org, "
                "y@example.org\n")
    write_table(o.transport, "example.com smtp:[relay.example.com]\n")
    o.update_main_cf({
        "virtual_alias_maps": "texthash:" + o.virtual,
        # proxy: or not, the same table for the lookup process.
        "transport_maps": "proxy:texthash:%s, texthash:%s"
                          % (o.transport, o.virtual),
    })
    return o


def test_found_not_found_and_names(lk):
    o = lk
    o.start_foreground()
    wait_until(lambda: service_pid(o, "lookup"), what="lookup ready")
    r = lookup(o, "texthash:" + o.virtual, "a@example.com")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "b@example.com\n"
    # Keys are folded as the type says (texthash: lower case).
    r = lookup(o, "proxy:texthash:" + o.virtual, "A@Example.COM",
               "alias@example.org")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "b@example.com\nx@example.org, y@example.org\n"
    r = lookup(o, "texthash:" + o.transport, "example.com")
    assert r.stdout == "smtp:[relay.example.com]\n"
    # Not found: exit 1, nothing printed; twice (the second from the
    # negative cache) with the same answer.
    for _ in range(2):
        r = lookup(o, "texthash:" + o.virtual, "nobody@example.com")
        assert r.returncode == 1, r.stderr
        assert r.stdout == ""
    # A table no parameter names is not served: a temporary failure
    # that says why, never "not found".
    r = lookup(o, "texthash:/etc/passwd", "root")
    assert r.returncode == EX_TEMPFAIL
    assert "table not configured in the lookup process" in r.stderr
    # The socket: mail_owner's, mode 0600.
    st = os.stat(os.path.join(o.queue_dir, "private", "lookup"))
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    import pwd
    assert st.st_uid == pwd.getpwnam(o.user).pw_uid


def test_changed_file_gives_new_answers(lk):
    o = lk
    o.start_foreground()
    wait_until(lambda: service_pid(o, "lookup"), what="lookup ready")
    t = "texthash:" + o.virtual
    assert lookup(o, t, "a@example.com").stdout == "b@example.com\n"
    assert lookup(o, t, "new@example.com").returncode == 1
    mark = o.log_mark()
    write_table(o.virtual, "a@example.com c@example.com\n"
                "new@example.com d@example.com\n")
    # Cached answers (positive and negative) go with the old file.
    wait_until(lambda: lookup(o, t, "a@example.com").stdout ==
               "c@example.com\n", what="the new value")
    assert lookup(o, t, "new@example.com").stdout == "d@example.com\n"
    o.wait_for_log(r"ostia/lookup\[\d+\]: .*%s: the table changed; opened "
                   r"it again" % re.escape(t), start=mark)
    # A change that does not parse keeps the previous version.
    mark = o.log_mark()
    write_table(o.virtual, "a@example.com e@example.com\nbroken-line\n")
    # (The check runs when a lookup comes, at most once a second.)
    pattern = re.compile(r"ostia/lookup\[\d+\]: error: %s: the table "
                         r"changed but cannot be opened again: %s, line 2: "
                         % (re.escape(t), re.escape(o.virtual)))

    def reopen_error_logged():
        lookup(o, t, "a@example.com")
        return pattern.search(o.log_text(), mark)
    wait_until(reopen_error_logged, what="the reopen error")
    assert lookup(o, t, "a@example.com").stdout == "c@example.com\n"


def test_killed_lookup_process_comes_back(lk):
    o = lk
    o.start_foreground()
    pid = wait_until(lambda: service_pid(o, "lookup"), what="lookup ready")
    t = "texthash:" + o.virtual
    assert lookup(o, t, "a@example.com").returncode == 0
    mark = o.log_mark()
    os.kill(pid, signal.SIGKILL)
    o.wait_for_log(r"service lookup/internal: child %d \(lookup\) was "
                   r"killed by signal 9" % pid, start=mark)
    new = wait_until(lambda: (service_pid(o, "lookup") or pid) != pid and
                     service_pid(o, "lookup"), what="a new lookup process")
    assert new != pid
    r = lookup(o, t, "a@example.com")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "b@example.com\n"


def test_sighup_drops_the_cache(lk):
    o = lk
    o.start_foreground()
    pid = wait_until(lambda: service_pid(o, "lookup"), what="lookup ready")
    t = "texthash:" + o.virtual
    lookup(o, t, "a@example.com", "nobody@example.com")
    mark = o.log_mark()
    os.kill(pid, signal.SIGHUP)
    o.wait_for_log(r"ostia/lookup\[%d\]: SIGHUP: dropped the lookup cache "
                   r"\(2 entries\)" % pid, start=mark)
    assert service_pid(o, "lookup") == pid


def test_table_with_syntax_error(lk):
    """virtual_alias_maps is not used by Ostia yet, so its broken table
    is a warning with file:line at start-up, and lookups in it fail
    with the reason; a table of a parameter Ostia honours would stop the
    start-up (lookup_tables.h)."""
    o = lk
    bad = os.path.join(o.confdir, "bad")
    write_table(bad, "ok@example.com x@example.com\n\nlonely-key\n")
    o.set_param("virtual_alias_maps", "texthash:" + bad)
    o.start_foreground()
    wait_until(lambda: service_pid(o, "lookup"), what="lookup ready")
    o.wait_for_log(r"ostia/lookup\[\d+\]: warning: virtual_alias_maps: "
                   r"table texthash:%s: %s, line 3: \"lonely-key\" has no "
                   r"value" % (re.escape(bad), re.escape(bad)))
    r = lookup(o, "texthash:" + bad, "ok@example.com")
    assert r.returncode == EX_TEMPFAIL
    assert "could not be opened at start-up: %s, line 3:" % bad in r.stderr
    # The other tables are served.
    r = lookup(o, "texthash:" + o.transport, "example.com")
    assert r.returncode == 0, r.stderr


def test_failing_table_logged_once_until_it_recovers(lk, tmp_path):
    o = lk
    db = os.path.join(o.tmpdir, "tables.db")
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE alias (address TEXT, goto TEXT)")
    con.execute("INSERT INTO alias VALUES ('a@example.com', "
                "'b@example.com')")
    con.commit()
    os.chmod(db, 0o644)
    cf = os.path.join(o.confdir, "sqlite-alias.cf")
    write_table(cf, "dbpath = %s\nquery = SELECT goto FROM alias WHERE "
                "address='%%s'\n" % db)
    o.set_param("virtual_alias_maps", "proxy:sqlite:" + cf)
    o.start_foreground()
    wait_until(lambda: service_pid(o, "lookup"), what="lookup ready")
    t = "sqlite:" + cf
    r = lookup(o, t, "a@example.com")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "b@example.com\n"
    mark = o.log_mark()
    con.execute("ALTER TABLE alias RENAME TO alias_gone")
    con.commit()
    for _ in range(3):
        r = lookup(o, t, "a@example.com", no_cache=True)
        assert r.returncode == EX_TEMPFAIL, (r.stdout, r.stderr)
        assert "no such table" in r.stderr
    o.wait_for_log(r"ostia/lookup\[\d+\]: warning: %s: lookup failed: .*no "
                   r"such table.*; answering 'try again later' until it "
                   r"recovers" % re.escape(t), start=mark)
    assert len(re.findall(r"lookup failed", o.log_text()[mark:])) == 1
    con.execute("ALTER TABLE alias_gone RENAME TO alias")
    con.commit()
    r = lookup(o, t, "a@example.com", no_cache=True)
    assert r.returncode == 0, r.stderr
    o.wait_for_log(r"ostia/lookup\[\d+\]: %s: lookups work again after 3 "
                   r"failed" % re.escape(t), start=mark)
    con.close()
