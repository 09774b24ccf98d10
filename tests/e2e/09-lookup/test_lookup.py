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


# The address resolver reads these (with their defaults) in the lookup
# process; they are not good examples of "a parameter nothing uses".
RESOLVER_MAPS = {
    "local_recipient_maps", "alias_maps", "virtual_alias_maps",
    "virtual_mailbox_maps", "relay_recipient_maps", "transport_maps",
    "sender_canonical_maps", "recipient_canonical_maps", "canonical_maps",
    "recipient_bcc_maps", "sender_bcc_maps",
}


def unhonoured_maps_param(o):
    """A lookup-table parameter with an empty default that this build
    does not honour yet (`ostia conf --reference` says which; they are
    honoured one by one)."""
    r = o.conf("--reference", check=True)
    for line in r.stdout.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) < 7 or cells[2] != "lookup tables":
            continue
        name = cells[1].strip("`")
        if (cells[3] == "(empty)" and cells[5] == "not yet" and
                name not in RESOLVER_MAPS and
                name not in ("tls_server_sni_maps", "address_verify_map",
                             "postscreen_cache_map", "alias_database")):
            return name
    raise AssertionError("every lookup-table parameter is honoured: "
                         "this test needs another example")


def test_table_with_syntax_error(lk):
    """A parameter Ostia does not use yet: its broken table is a warning
    with file:line at start-up, and lookups in it fail with the reason;
    a table of a parameter Ostia honours stops the start-up
    (lookup_tables.h), and so does one named by a restriction list."""
    o = lk
    param = unhonoured_maps_param(o)
    bad = os.path.join(o.confdir, "bad")
    write_table(bad, "ok@example.com x@example.com\n\nlonely-key\n")
    o.set_param(param, "texthash:" + bad)
    helo = os.path.join(o.confdir, "helo")
    write_table(helo, "ok.example OK\n\nlonely-key\n")
    o.set_param("smtpd_helo_restrictions", "check_helo_access texthash:"
                + helo)
    r = o.check()
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert ("smtpd_helo_restrictions: table texthash:%s: %s, line 3:"
            % (helo, helo)) in r.stderr
    assert "error: %s: table" % param not in r.stderr
    o.set_param("smtpd_helo_restrictions", None)
    o.start_foreground()
    wait_until(lambda: service_pid(o, "lookup"), what="lookup ready")
    o.wait_for_log(r"ostia/lookup\[\d+\]: warning: %s: "
                   r"table texthash:%s: %s, line 3: \"lonely-key\" has no "
                   r"value" % (param, re.escape(bad), re.escape(bad)))
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


# ---------------------------------------------------------------- FIND

def find(o, order, tables, *keys, flags=None, delimiter=None,
         no_cache=False):
    args = ["lookup"] + (["--no-cache"] if no_cache else [])
    args += ["--find", order]
    if flags:
        args += ["--flags", flags]
    if delimiter is not None:
        args += ["--delimiter", delimiter]
    return o.cli(*args, tables, *keys)


@pytest.fixture
def fk(ostia_factory):
    """Tables named only by restriction lists (check_*_access) and
    header_checks: the lookup process serves them, and FIND searches
    them in the maps.h orders."""
    o = ostia_factory()
    etc = o.confdir
    o.access = os.path.join(etc, "access")
    o.cidr = os.path.join(etc, "clients.cidr")
    o.pcre = os.path.join(etc, "senders.pcre")
    write_table(o.access, "example.com DOMAIN\n"
                ".example.net SUBDOMAINS\n"
                "user@example.org USER\n"
                "postmaster@ LOCALPART\n"
                "198.51.100 NETWORK\n"
                "exact-key TEXTHASH\n")
    write_table(o.cidr, "192.0.2.0/24 CIDR\n2001:db8::/32 CIDR6\n")
    write_table(o.pcre, "/^spam[0-9]+@/ PCRE\n/^exact-key$/ PCRE-EXACT\n")
    o.update_main_cf({
        "smtpd_client_restrictions":
            "check_client_access cidr:%s, check_client_access "
            "texthash:%s" % (o.cidr, o.access),
        "smtpd_sender_restrictions":
            "check_sender_access proxy:pcre:%s" % o.pcre,
    })
    o.tables = "texthash:%s, pcre:%s, cidr:%s" % (o.access, o.pcre, o.cidr)
    return o


def test_find_orders(fk):
    o = fk
    o.start_foreground()
    wait_until(lambda: service_pid(o, "lookup"), what="lookup ready")
    t = o.tables
    # exact: the first table of the list that has the key.
    r = find(o, "exact", t, "exact-key", "spam7@x.test")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "TEXTHASH\nPCRE\n"
    r = find(o, "exact", "pcre:%s, texthash:%s" % (o.pcre, o.access),
             "exact-key")
    assert r.stdout == "PCRE-EXACT\n"
    r = find(o, "exact", t, "nobody")
    assert (r.returncode, r.stdout) == (1, "")
    # address, access(5) order: the domain and its parents, then user@.
    r = find(o, "address", t, "someone@a.example.net",
             "someone@A.Example.Net", "postmaster@elsewhere.test",
             flags="access")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "SUBDOMAINS\nSUBDOMAINS\nLOCALPART\n"
    r = find(o, "address", t, "someone@a.example.com", flags="access")
    assert r.returncode == 1, r.stderr
    r = find(o, "address", t, "someone@a.example.com",
             flags="access,parent")
    assert r.stdout == "DOMAIN\n"
    # The recipient delimiter: user+ext@ finds user@.
    r = find(o, "address", t, "user+tag@example.org", delimiter="+")
    assert r.stdout == "USER\n"
    r = find(o, "address", t, "user+tag@example.org")
    assert r.returncode == 1
    # Partial keys never reach the pattern table.
    r = find(o, "address", t, "x+spam1@nowhere.test", delimiter="+")
    assert r.returncode == 1
    # domain: parents as ".parent", or "parent" with the flag.
    r = find(o, "domain", t, "deep.sub.example.net", "sub.example.com")
    assert (r.returncode, r.stdout) == (1, "SUBDOMAINS\n")
    r = find(o, "domain", t, "sub.example.com", flags="parent")
    assert r.stdout == "DOMAIN\n"
    # client: the address (cidr), then its networks (texthash).
    r = find(o, "client", t, "192.0.2.9", "198.51.100.20", "2001:db8::1")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "CIDR\nNETWORK\nCIDR6\n"
    r = find(o, "client", t, "203.0.113.5")
    assert r.returncode == 1
    # A list naming a table no parameter names: a temporary failure
    # that says which, never "not found".
    r = find(o, "exact", t + ", texthash:/etc/passwd", "nobody")
    assert r.returncode == EX_TEMPFAIL
    assert "texthash:/etc/passwd: table not configured" in r.stderr
    # Flags an order does not take are refused before asking.
    r = find(o, "client", t, "192.0.2.9", flags="access")
    assert r.returncode == 2


def test_find_follows_changes_and_sighup(fk):
    o = fk
    o.start_foreground()
    pid = wait_until(lambda: service_pid(o, "lookup"), what="lookup ready")
    t = o.tables
    assert find(o, "exact", t, "new-key").returncode == 1
    write_table(o.access, "new-key NEW\n")
    # The list borrows the open table: a changed file is reopened under
    # it and cached answers go.
    wait_until(lambda: find(o, "exact", t, "new-key").stdout == "NEW\n",
               what="the new value through FIND")
    # --no-cache asks the table itself.
    r = find(o, "exact", t, "new-key", no_cache=True)
    assert r.stdout == "NEW\n"
    mark = o.log_mark()
    os.kill(pid, signal.SIGHUP)
    o.wait_for_log(r"ostia/lookup\[%d\]: SIGHUP: dropped the lookup cache "
                   r"\(\d+ entr(y|ies)\) and 1 list of tables" % pid,
                   start=mark)
    assert find(o, "exact", t, "new-key").stdout == "NEW\n"


def sqlite_table(o, name="tables.db"):
    """A sqlite table whose query can be broken by renaming its SQL
    table; returns (cf path, connection)."""
    db = os.path.join(o.tmpdir, name)
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE mailbox (address TEXT, maildir TEXT)")
    con.execute("INSERT INTO mailbox VALUES ('box@hosted.example', "
                "'hosted.example/box/')")
    con.commit()
    os.chmod(db, 0o644)
    cf = os.path.join(o.confdir, "sqlite-mailbox.cf")
    write_table(cf, "dbpath = %s\nquery = SELECT maildir FROM mailbox "
                "WHERE address='%%s'\n" % db)
    return cf, con


def test_find_broken_sql_is_tempfail(fk):
    o = fk
    cf, con = sqlite_table(o)
    o.set_param("smtpd_recipient_restrictions",
                "check_recipient_access proxy:sqlite:%s" % cf)
    o.start_foreground()
    wait_until(lambda: service_pid(o, "lookup"), what="lookup ready")
    t = "texthash:%s, sqlite:%s" % (o.access, cf)
    r = find(o, "address", t, "box@hosted.example")
    assert (r.returncode, r.stdout) == (0, "hosted.example/box/\n"), \
        r.stderr
    con.execute("ALTER TABLE mailbox RENAME TO gone")
    con.commit()
    # Every key of the order would go to the table: the first failure
    # ends the search with a temporary failure, never "not found".
    for key in ("box@hosted.example", "other@hosted.example"):
        r = find(o, "address", t, key, no_cache=True)
        assert r.returncode == EX_TEMPFAIL, (r.stdout, r.stderr)
        assert "no such table" in r.stderr
    # Key-major order: the whole address goes to every table before
    # the domain does, so the broken table is asked and fails the
    # search although the first table has "example.com" ...
    r = find(o, "address", t, "x@example.com", flags="access")
    assert r.returncode == EX_TEMPFAIL, (r.stdout, r.stderr)
    # ... while a key the first table has is never asked further.
    r = find(o, "exact", t, "exact-key")
    assert (r.returncode, r.stdout) == (0, "TEXTHASH\n"), r.stderr
    con.close()


# ---------------------------------------------------------------- ROUTE

def route(o, op, *addresses, service=None, no_cache=False):
    args = ["lookup"] + (["--no-cache"] if no_cache else [])
    args += ["--route", op]
    if service is not None:
        args += ["--service", service]
    return o.cli(*args, *addresses)


def answer(text):
    """One ROUTE answer's lines as a dict (rcpt: a list)."""
    d = {"rcpt": []}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        assert sep, "a line without '=': %r" % line
        if name == "rcpt":
            d["rcpt"].append(value)
        else:
            assert name not in d, "%s twice" % name
            d[name] = value
    return d


@pytest.fixture
def rk(ostia_factory):
    """A virtual mailbox domain, a relay domain with a transport_maps
    entry, aliases; a second smtpd whose -o empties
    virtual_mailbox_maps."""
    o = ostia_factory(master_cf=(
        "127.0.0.1:@port:smtp@ inet n - n - 1 smtpd\n"
        "127.0.0.1:@port:reinject@ inet n - n - 1 smtpd "
        "-o virtual_mailbox_maps=\n"))
    etc = o.confdir
    o.vmailbox = os.path.join(etc, "vmailbox")
    o.valias = os.path.join(etc, "valias")
    o.transport = os.path.join(etc, "transport")
    o.aliases = os.path.join(etc, "aliases")
    write_table(o.vmailbox, "box@hosted.example hosted.example/box/\n")
    write_table(o.valias, "alias@hosted.example box@hosted.example, "
                "someone@elsewhere.test\n")
    write_table(o.transport, "relay.example smtp:[mx.relay.example]:2525\n")
    write_table(o.aliases, "postmaster root\n")
    o.update_main_cf({
        "mydestination": "$myhostname, localhost",
        "alias_maps": "texthash:" + o.aliases,
        "virtual_mailbox_domains": "hosted.example",
        "virtual_mailbox_maps": "texthash:" + o.vmailbox,
        "virtual_alias_maps": "texthash:" + o.valias,
        "relay_domains": "relay.example",
        "transport_maps": "texthash:" + o.transport,
    })
    o.reinject = "127.0.0.1:%d/inet" % o.ports["reinject"]
    return o


def test_route_answers(rk):
    o = rk
    o.start_foreground()
    wait_until(lambda: service_pid(o, "lookup"), what="lookup ready")
    # A virtual mailbox domain: a known and an unknown recipient.
    r = route(o, "check", "Box@Hosted.Example")
    assert r.returncode == 0, r.stderr
    a = answer(r.stdout)
    assert a["class"] == "virtual"
    # The domain is folded, the local part kept.
    assert a["address"] == "Box@hosted.example"
    assert a["transport"] == "virtual"
    assert a["listed"] == "yes"
    assert "code" not in a
    r = route(o, "check", "nobody@hosted.example")
    assert r.returncode == 1, r.stderr
    a = answer(r.stdout)
    assert (a["class"], a["listed"], a["code"], a["dsn"]) == \
        ("virtual", "no", "550", "5.1.1")
    assert "virtual mailbox table" in a["text"]
    # A relay domain, routed by transport_maps.
    r = route(o, "resolve", "x@relay.example")
    assert r.returncode == 0, r.stderr
    a = answer(r.stdout)
    assert (a["class"], a["transport"], a["nexthop"]) == \
        ("relay", "smtp", "[mx.relay.example]:2525")
    # An unknown domain: the default class, always "listed".
    r = route(o, "check", "someone@unknown.example")
    assert r.returncode == 0, r.stderr
    a = answer(r.stdout)
    assert (a["class"], a["transport"], a["listed"]) == \
        ("default", "smtp", "yes")
    # A local domain: postmaster is always known.
    r = route(o, "check", "postmaster@test.example")
    assert r.returncode == 0, r.stderr
    a = answer(r.stdout)
    assert a["class"] == "local"
    assert "postmaster" in a["flags"].split(",")
    # Virtual alias expansion, one rcpt line per result.
    r = route(o, "expand", "alias@hosted.example")
    assert r.returncode == 0, r.stderr
    assert answer(r.stdout)["rcpt"] == ["box@hosted.example",
                                        "someone@elsewhere.test"]
    # Several addresses: answers separated by an empty line.
    r = route(o, "resolve", "x@relay.example", "box@hosted.example")
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.split("\n\n")
    assert answer(first)["class"] == "relay"
    assert answer(second)["class"] == "virtual"


def test_route_per_service(rk):
    o = rk
    o.start_foreground()
    wait_until(lambda: service_pid(o, "lookup"), what="lookup ready")
    # The second smtpd's -o virtual_mailbox_maps= : every address of the
    # domain is known there, by name/type or by name alone.
    for svc in (o.reinject, o.reinject.rsplit("/", 1)[0]):
        r = route(o, "check", "nobody@hosted.example", service=svc)
        assert r.returncode == 0, (svc, r.stderr)
        assert answer(r.stdout)["listed"] == "yes"
    r = route(o, "check", "nobody@hosted.example",
              service="127.0.0.1:%d/inet" % o.port)
    assert r.returncode == 1, r.stderr
    r = route(o, "resolve", "x@relay.example", service="nosuch/inet")
    assert r.returncode == EX_TEMPFAIL
    assert 'no service "nosuch/inet"' in r.stderr


def test_route_broken_sql_is_tempfail(rk):
    o = rk
    cf, con = sqlite_table(o)
    o.set_param("virtual_mailbox_maps", "proxy:sqlite:" + cf)
    o.start_foreground()
    wait_until(lambda: service_pid(o, "lookup"), what="lookup ready")
    r = route(o, "check", "box@hosted.example")
    assert r.returncode == 0, r.stderr
    assert answer(r.stdout)["listed"] == "yes"
    con.execute("ALTER TABLE mailbox RENAME TO gone")
    con.commit()
    # The table cannot answer: "try again later", never "unknown user".
    for addr in ("box@hosted.example", "nobody@hosted.example"):
        r = route(o, "check", addr, no_cache=True)
        assert r.returncode == EX_TEMPFAIL, (r.stdout, r.stderr)
        assert "no such table" in r.stderr
        assert r.stdout == ""
    # Answers that do not need the table are still given.
    r = route(o, "resolve", "x@relay.example")
    assert r.returncode == 0, r.stderr
    con.execute("ALTER TABLE gone RENAME TO mailbox")
    con.commit()
    r = route(o, "check", "nobody@hosted.example", no_cache=True)
    assert r.returncode == 1, r.stderr
    con.close()
