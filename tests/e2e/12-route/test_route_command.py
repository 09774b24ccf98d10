# SPDX-License-Identifier: MIT
"""`ostia route` and `ostia newaliases` against real configuration files.

`ostia route ADDRESS...` prints, for each address, the address after
rewriting, its class, transport, next hop, flags, whether it is a listed
recipient (with the reply a RCPT would get), whether it is an authorized
destination, its virtual alias expansion and every rewriting step.  These
tests run it over texthash: and inline: tables for every address class
(local, alias, virtual, relay, default), transport_maps and relayhost, the
relay tricks (percent hack, bang path, quoted local part, trailing dot,
upper case), a master.cf service's view (-s), and check the exit statuses:
0 all listed, 1 some unlisted or not an address, 2 a configuration or
table error (with the reason).  `ostia newaliases` builds FILE.lmdb from
an aliases(5) file (errors name the line) and says when a table type has
nothing to build.
"""

import os

import pytest


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def tables_dir(o):
    d = os.path.join(o.tmpdir, "tables")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    return d


def routing_config(o):
    d = tables_dir(o)
    write(os.path.join(d, "vmbox"), "u@vmail.test u/\nv@vmail.test v/\n")
    write(os.path.join(d, "valias"),
          "info@alias.test u@vmail.test, v@vmail.test\n"
          "@catchall.test u@vmail.test\n"
          "l1@vmail.test l2@vmail.test\n"
          "l2@vmail.test l1@vmail.test\n")
    write(os.path.join(d, "transport"),
          "special.test smtp:[10.0.0.1]:2525\n"
          ".sub.test lmtp:\n")
    write(os.path.join(d, "aliases"), "root admin\n")
    return {
        "myhostname": "mail.example.com",
        "mydomain": "example.com",
        "myorigin": "example.com",
        "mydestination": "$myhostname, localhost, example.com",
        "local_recipient_maps": "inline:{ admin=x, bob=x } $alias_maps",
        "alias_maps": "texthash:%s/aliases" % d,
        "virtual_alias_domains": "alias.test, catchall.test",
        "virtual_alias_maps": "texthash:%s/valias" % d,
        "virtual_mailbox_domains": "vmail.test",
        "virtual_mailbox_maps": "texthash:%s/vmbox" % d,
        "virtual_transport": "dovecot",
        "relay_domains": "relay.test",
        "relay_recipient_maps": "inline:{ known@relay.test=ok }",
        "transport_maps": "texthash:%s/transport" % d,
        "recipient_delimiter": "+",
        "alias_database": "hash:%s/aliases" % d,
    }


def parse(stdout):
    """The report as {address: {field: value, "steps": [...]}}."""
    out, cur, in_steps = {}, None, False
    for line in stdout.splitlines():
        if line.startswith("address: "):
            cur = {"steps": []}
            out[line[len("address: "):]] = cur
            in_steps = False
        elif line.strip() == "steps:":
            in_steps = True
        elif in_steps and line.strip():
            cur["steps"].append(line.strip().split(". ", 1)[1])
        elif line.strip():
            k, _, v = line.strip().partition(": ")
            cur[k] = v
    return out


@pytest.fixture
def inst(ostia_factory):
    o = ostia_factory()
    o.update_main_cf(routing_config(o))
    return o


def route(o, *addrs, service=None):
    args = ["route"]
    if service:
        args += ["-s", service]
    r = o.cli(*args, *addrs)
    return r, parse(r.stdout)


CLASSES = [
    # address, class, transport, nexthop, listed
    ("bob@example.com", "local", "local", "mail.example.com", "yes"),
    ("root", "local", "local", "mail.example.com", "yes"),
    ("info@alias.test", "alias", "error",
     "5.1.1 User unknown in virtual alias table", "yes"),
    ("u@vmail.test", "virtual", "dovecot", "vmail.test", "yes"),
    ("known@relay.test", "relay", "relay", "relay.test", "yes"),
    ("x@remote.test", "default", "smtp", "remote.test", "yes"),
    ("x@special.test", "default", "smtp", "[10.0.0.1]:2525", "yes"),
    ("x@a.sub.test", "default", "lmtp", "a.sub.test", "yes"),
]


def test_every_class(inst):
    r, rep = route(inst, *[c[0] for c in CLASSES])
    assert r.returncode == 0, r.stdout + r.stderr
    for addr, cls, transport, nexthop, listed in CLASSES:
        got = rep[addr]
        assert got["class"] == cls, (addr, got)
        assert got["transport"] == transport, (addr, got)
        assert got["nexthop"] == nexthop, (addr, got)
        assert got["listed"] == listed, (addr, got)
    assert rep["root"]["resolved"] == "root@example.com"
    assert "append_at_myorigin: root -> root@example.com" in \
        rep["root"]["steps"]
    assert rep["info@alias.test"]["virtual aliases"] == \
        "u@vmail.test, v@vmail.test"
    assert rep["u@vmail.test"]["virtual aliases"] == "none"
    assert rep["x@remote.test"]["authorized destination"].startswith("no")
    assert rep["u@vmail.test"]["authorized destination"] == "yes"
    assert any("transport_maps: special.test in texthash:" in s
               for s in rep["x@special.test"]["steps"])


def test_unlisted_recipients(inst):
    r, rep = route(inst, "nobody@example.com", "nobody@vmail.test",
                   "nobody@alias.test", "other@relay.test", "any@catchall.test")
    assert r.returncode == 1, r.stdout + r.stderr
    assert rep["nobody@example.com"]["reply"] == (
        "550 5.1.1 <nobody@example.com>: Recipient address rejected: "
        "User unknown in local recipient table")
    assert rep["nobody@vmail.test"]["reply"].endswith(
        "User unknown in virtual mailbox table")
    assert rep["nobody@alias.test"]["reply"].endswith(
        "User unknown in virtual alias table")
    assert rep["other@relay.test"]["reply"].endswith(
        "User unknown in relay recipient table")
    # The catch-all makes every address of its domain known.
    assert rep["any@catchall.test"]["listed"] == "yes"
    assert rep["any@catchall.test"]["virtual aliases"] == "u@vmail.test"


def test_postmaster(inst):
    r, rep = route(inst, "Postmaster", "postmaster@vmail.test",
                   "postmaster@alias.test")
    assert r.returncode == 0, r.stdout + r.stderr
    assert rep["Postmaster"]["resolved"] == "Postmaster@mail.example.com"
    for a in rep.values():
        assert a["flags"] == "postmaster"
        assert a["listed"] == "yes"
    # A domain whose every address is an alias, without a postmaster
    # alias: the local postmaster gets it (RFC 5321 4.5.1).
    assert rep["postmaster@alias.test"]["virtual aliases"] == \
        "postmaster@example.com"
    assert rep["postmaster@vmail.test"]["virtual aliases"] == "none"


def test_relay_tricks(inst):
    r, rep = route(inst, "u%remote.test@example.com",
                   "remote.test!u@example.com", '"u@remote.test"@relay.test',
                   "u%remote.test@relay.test", "U@VMAIL.TEST")
    got = rep["u%remote.test@example.com"]
    assert (got["resolved"], got["class"]) == ("u@remote.test", "default")
    assert "allow_percent_hack: u%remote.test -> u@remote.test" in \
        got["steps"]
    got = rep["remote.test!u@example.com"]
    assert (got["resolved"], got["class"]) == ("u@remote.test", "default")
    for a in ('"u@remote.test"@relay.test', "u%remote.test@relay.test"):
        assert rep[a]["class"] == "relay"
        # relayhost: sender_dependent_relayhost_maps may pick the
        # next hop (no transport setting names one).
        assert rep[a]["flags"] == "routed relayhost"
        assert rep[a]["authorized destination"].startswith("no")
    got = rep["U@VMAIL.TEST"]
    assert (got["resolved"], got["class"], got["listed"]) == \
        ("U@vmail.test", "virtual", "yes")
    # The relay recipients are unlisted: exit 1.
    assert r.returncode == 1


def test_trailing_dot_is_not_smtp_syntax(inst):
    r, rep = route(inst, "bob@example.com.")
    got = rep["bob@example.com."]
    assert got["syntax"].startswith("an SMTP server refuses this path")
    assert (got["resolved"], got["class"]) == ("bob@example.com", "local")
    assert r.returncode == 1


def test_relayhost(inst):
    inst.set_param("relayhost", "[smart.test]:587")
    r, rep = route(inst, "x@remote.test", "u@vmail.test")
    assert r.returncode == 0, r.stdout + r.stderr
    assert rep["x@remote.test"]["nexthop"] == "[smart.test]:587"
    assert rep["u@vmail.test"]["nexthop"] == "vmail.test"


def test_alias_loop_is_a_temporary_failure(inst):
    r, rep = route(inst, "l1@vmail.test")
    assert r.returncode == 2, r.stdout + r.stderr
    assert rep["l1@vmail.test"]["virtual aliases"] == (
        "temporary failure: virtual_alias_maps: alias loop: l1@vmail.test "
        "-> l2@vmail.test -> l1@vmail.test")


def test_broken_table_exit_2(inst):
    missing = os.path.join(inst.tmpdir, "tables", "missing")
    inst.set_param("virtual_mailbox_maps", "texthash:" + missing)
    r, rep = route(inst, "nobody@vmail.test")
    assert r.returncode == 2, r.stdout + r.stderr
    got = rep["nobody@vmail.test"]
    assert got["listed"].startswith("temporary failure: ")
    assert missing in got["listed"]
    assert got["reply"].startswith("451 4.3.0 ")

    # A broken domain list: the class itself cannot be decided.
    inst.set_param("mydestination", "localhost, texthash:" + missing)
    r, rep = route(inst, "x@remote.test", "bob@localhost")
    assert r.returncode == 2, r.stdout + r.stderr
    got = rep["x@remote.test"]
    assert got["error"].startswith("temporary failure: mydestination: ")
    assert missing in got["error"]
    assert "class" not in got
    # An element before the broken table still answers.
    assert rep["bob@localhost"]["class"] == "local"


def test_service_view(inst):
    inst.write_master_cf(
        "127.0.0.1:@port:smtp@ inet n - n - 1 smtpd\n"
        "127.0.0.1:@port:sub@ inet n - n - 1 smtpd\n"
        "  -o virtual_transport=lmtp:unix:private/dovecot-lmtp\n")
    r, rep = route(inst, "u@vmail.test")
    assert rep["u@vmail.test"]["transport"] == "dovecot"
    name = "127.0.0.1:%d" % inst.ports["sub"]
    r, rep = route(inst, "u@vmail.test", service=name)
    assert r.returncode == 0, r.stdout + r.stderr
    got = rep["u@vmail.test"]
    assert (got["transport"], got["nexthop"]) == \
        ("lmtp", "unix:private/dovecot-lmtp")
    r, _ = route(inst, "u@vmail.test", service="nosuch")
    assert r.returncode == 2
    assert "no service \"nosuch\"" in r.stderr


def test_config_error_and_usage(inst):
    r = inst.cli("route")
    assert r.returncode == 2
    assert "usage: ostia route" in r.stderr
    inst.set_param("virtual_alias_expansion_limit", "lots")
    r = inst.cli("route", "x@remote.test")
    assert r.returncode == 2
    assert "virtual_alias_expansion_limit" in r.stderr


def test_newaliases(inst):
    d = tables_dir(inst)
    path = os.path.join(d, "aliases")
    write(path, "# system aliases\n"
                "postmaster: root\n"
                "Root: admin,\n"
                "  other\n"
                "\n"
                "list: :include:/etc/list\n")
    r = inst.cli("newaliases")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "%s.lmdb: built from %s (3 aliases)" % (path, path) in r.stdout
    assert "hash:%s: opens" % path in r.stdout
    r = inst.cli("map", "-q", "root", "hash:" + path)
    assert (r.returncode, r.stdout) == (0, "admin,  other\n")
    r = inst.cli("map", "-q", "list", "hash:" + path)
    assert r.stdout == ":include:/etc/list\n"

    # The built table works as alias_maps.
    inst.update_main_cf({"alias_maps": "hash:" + path})
    r, rep = route(inst, "root@example.com", "postmaster@example.com")
    assert r.returncode == 0, r.stdout + r.stderr
    assert rep["root@example.com"]["listed"] == "yes"

    # An error names the line; the old table stays.
    write(path, "postmaster: root\nbroken line\n")
    r = inst.cli("newaliases")
    assert r.returncode == 1
    assert "%s, line 2: no ':' after the alias name" % path in r.stderr
    r = inst.cli("map", "-q", "list", "hash:" + path)
    assert r.stdout == ":include:/etc/list\n"

    # Other types have nothing to build; they are opened.
    inst.set_param("alias_database", "texthash:%s/valias" % d)
    r = inst.cli("newaliases")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "texthash:%s/valias: nothing to build" % d in r.stdout
    inst.set_param("alias_database", "texthash:%s/missing" % d)
    r = inst.cli("newaliases")
    assert r.returncode == 1
    assert "%s/missing" % d in r.stderr
    inst.set_param("alias_database", "")
    r = inst.cli("newaliases")
    assert r.returncode == 0
    assert "nothing to build" in r.stdout


def test_canonical_and_bcc(ostia_factory):
    """`queued as:` shows recipient_canonical_maps / canonical_maps and
    the recipient_bcc_maps address, with a step for each."""
    o = ostia_factory()
    cfg = routing_config(o)
    d = tables_dir(o)
    write(os.path.join(d, "rcanon"), "old@vmail.test u@vmail.test\n")
    write(os.path.join(d, "canon"), "@oldname.test @vmail.test\n")
    write(os.path.join(d, "rbcc"), "u@vmail.test v@vmail.test\n")
    cfg.update({"recipient_canonical_maps": "texthash:%s/rcanon" % d,
                "canonical_maps": "texthash:%s/canon" % d,
                "recipient_bcc_maps": "texthash:%s/rbcc" % d})
    o.update_main_cf(cfg)
    r, rep = route(o, "old@vmail.test", "v@oldname.test", "x@remote.test")
    assert r.returncode == 0, r.stdout + r.stderr
    assert rep["old@vmail.test"]["queued as"] == \
        "u@vmail.test (BCC v@vmail.test)"
    assert any(s.startswith("recipient_canonical_maps: old@vmail.test -> "
                            "u@vmail.test") for s in
               rep["old@vmail.test"]["steps"])
    assert rep["v@oldname.test"]["queued as"] == "v@vmail.test"
    assert rep["x@remote.test"]["queued as"] == "x@remote.test"
