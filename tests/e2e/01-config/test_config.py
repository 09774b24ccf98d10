# SPDX-License-Identifier: MIT
"""Configuration: the seed deployment loads, `ostia conf` in all its
forms, and every kind of bad input gets a clear error with file:line.

The seed is the real Postfix configuration that started the project
(tests/fixtures/seed, from ../shared/seed), with paths moved into a
temporary directory.
"""

import os
import re
import subprocess

import pytest

from ostia_harness import self_signed, source_dir

SEED = os.path.join(source_dir(), "tests", "fixtures", "seed")


def seed_instance(factory, master="master.cf"):
    o = factory()
    # The seed's own certificate: self-signed for its host name, as
    # iRedMail makes it.
    pki = os.path.join(o.tmpdir, "etc", "pki", "tls")
    cert, key = self_signed(os.path.join(pki, "certs"), "mail.yun.pm")
    os.makedirs(os.path.join(pki, "private"), exist_ok=True)
    os.replace(cert, os.path.join(pki, "certs", "iRedMail.crt"))
    os.replace(key, os.path.join(pki, "private", "iRedMail.key"))
    with open(os.path.join(SEED, "main.cf.in")) as f:
        text = f.read().replace("@DIR@", o.tmpdir)
    # The seed's MySQL table files (not in the posted configuration):
    # iRedMail's shape, pointing at a database the tests do not run.
    mysql = os.path.join(o.tmpdir, "etc", "mysql")
    os.makedirs(mysql, exist_ok=True)
    for path in set(re.findall(r"(%s/\S+\.cf)" % re.escape(mysql), text)):
        name = os.path.basename(path)[:-3]
        with open(path, "w") as f:
            f.write("hosts = 127.0.0.1:3306\nuser = vmail\n"
                    "password = not-a-real-password\ndbname = vmail\n"
                    "query = SELECT '%%s' FROM %s WHERE address='%%s' "
                    "AND active=1\n" % name)
        os.chmod(path, 0o640)
    # The seed's HELO checks (iRedMail's shape) and aliases: tables of
    # honoured parameters must exist, or Ostia refuses to start.
    etc = os.path.join(o.tmpdir, "etc")
    with open(os.path.join(etc, "helo_access.pcre"), "w") as f:
        f.write("/^(localhost|localhost\\.localdomain)$/ "
                "REJECT ACCESS DENIED. Your email was rejected because "
                "the sending mail server uses a non-FQDN hostname\n")
    with open(os.path.join(etc, "aliases"), "w") as f:
        f.write("postmaster: root\nclamav: root\n")
    # Keep the seed as it is, but let Ostia run as the test user.
    text = text.replace("mail_owner = postfix", "mail_owner = " + o.user)
    o.write_main_cf_text(text)
    with open(os.path.join(SEED, master)) as f:
        o.write_master_cf(f.read())
    r = o.cli("newaliases")
    assert r.returncode == 0, r.stdout + r.stderr
    for path in ("aliases", "aliases.lmdb", "helo_access.pcre"):
        os.chmod(os.path.join(etc, path), 0o644)
    return o, text


def settings_of(text):
    """name -> value of a main.cf text (last wins), continuation joined."""
    out = {}
    name = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " \t":
            out[name] += " " + line.strip()
            continue
        name, _, value = line.partition("=")
        name = name.strip()
        out[name] = value.strip()
    return out


def warnings_of(stderr):
    return [l for l in stderr.splitlines() if ": warning: " in l]


def test_seed_loads_and_conf_n_prints_it_back(ostia_factory):
    o, text = seed_instance(ostia_factory)
    r = o.conf("-n")
    assert r.returncode == 0, r.stderr
    printed = {}
    for line in r.stdout.splitlines():
        name, _, value = line.partition(" =")
        printed[name] = value.strip()
    assert printed == settings_of(text)
    # Sorted by name, like postconf -n.
    names = [l.split(" =")[0] for l in r.stdout.splitlines()]
    assert names == sorted(names)


def test_seed_unhonoured_parameters_named_once_each(ostia_factory):
    o, text = seed_instance(ostia_factory)
    r = o.cli("check")
    # 1: warnings only; the seed's certificate is self-signed.
    assert r.returncode == 1, r.stdout + r.stderr
    assert "configuration OK" in r.stdout
    assert re.search(r"warning: the certificate is self-signed .*'unknown "
                     r"ca'", r.stdout), r.stdout
    warned = {}
    for w in warnings_of(r.stderr):
        m = re.search(r"parameter (\S+) (?:\(.*\) )?is (known but not "
                      r"implemented yet|a Postfix setting with no meaning)",
                      w)
        if m:
            warned[m.group(1)] = warned.get(m.group(1), 0) + 1
    assert all(n == 1 for n in warned.values()), warned
    # Every main.cf parameter is honoured or named in a warning.
    reference = subprocess.run([o.binary, "conf", "--reference"],
                               capture_output=True, text=True,
                               check=True).stdout
    honoured = set(re.findall(r"^\| `(\w+)` \|[^\n]*\| yes \|", reference,
                              re.M))
    # Per-transport parameters: SERVICE + an honoured suffix
    # ("dovecot" + "_destination_recipient_limit").
    suffixes = [h for h in honoured if h.startswith("_")]
    for name in settings_of(text):
        assert name in honoured or name in warned or any(
            name.endswith(sfx) and len(name) > len(sfx)
            for sfx in suffixes), name
    # Every parameter of the seed's main.cf is implemented: none is
    # "not implemented yet" (the last one was smtpd_sasl_local_domain).
    assert not re.search(r"main\.cf:\d+: parameter \S+ is known but not "
                         r"implemented yet", r.stderr), r.stderr
    # The ignored ones are named with the file and line they were set on.
    lines = text.splitlines()
    lineno = next(i + 1 for i, l in enumerate(lines)
                  if l.startswith("daemon_directory"))
    assert re.search(r"main\.cf:%d: parameter daemon_directory is a Postfix "
                     r"setting with no meaning" % lineno, r.stderr), r.stderr
    # Honoured ones are not named.
    assert "smtpd_tls_cert_file" not in r.stderr
    assert "parameter daemon_directory is a Postfix setting with no " \
        "meaning in Ostia" in r.stderr
    # A per-transport parameter the queue manager honours is not named;
    # one it does not honour yet is (with its service).
    assert "dovecot_destination_recipient_limit" not in r.stderr
    assert "smtp-amavis_destination_recipient_limit" not in r.stderr
    # -o overrides in master.cf are checked too, once per name; the
    # amavis return service's per-client limits are honoured.
    assert re.search(r"master\.cf:\d+: parameter max_use (?:\(.*\) )?is "
                     r"a Postfix setting with no meaning", r.stderr), r.stderr
    assert "smtpd_client_connection_count_limit" not in r.stderr
    assert "smtpd_client_connection_rate_limit" not in r.stderr
    assert "smtp_data_done_timeout" not in r.stderr
    assert "smtp_send_xforward_command" not in r.stderr
    # The smtp agent runs (relay, smtp-amavis): its services are not
    # named.
    assert "service relay/unix" not in r.stderr
    # Delivery agents Ostia runs (pipe as dovecot, ...) are not named.
    assert "service dovecot/unix" not in r.stderr


def test_seed_conf_M_lists_services_with_overrides(ostia_factory):
    o, _ = seed_instance(ostia_factory)
    r = o.conf("-M")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "smtp inet n - - - - smtpd" in lines
    assert ("smtps inet n - n - - smtpd -o smtpd_tls_wrappermode=yes "
            "-o smtpd_sasl_auth_enable=yes "
            "-o smtpd_client_restrictions=permit_sasl_authenticated,reject"
            in lines)
    assert "tlsmgr unix - - n 1000? 1 tlsmgr" in lines
    assert any(l.startswith("dovecot unix - n n - - pipe flags=DRhu "
                            "user=vmail:vmail argv=/usr/libexec/dovecot/deliver")
               for l in lines)
    amavis = [l for l in lines if l.startswith("127.0.0.1:10025 inet")][0]
    assert "-o content_filter= -o mynetworks_style=host" in amavis
    assert amavis.endswith("-o receive_override_options=no_header_body_checks,"
                           "no_unknown_recipient_checks,no_address_mappings")
    r = o.conf("-M", "smtps/inet")
    assert r.stdout.splitlines() == [l for l in lines if l.startswith("smtps ")]


def test_seed_master_cf_as_posted_is_diagnosed(ostia_factory):
    o, _ = seed_instance(ostia_factory, master="master.cf.as-posted")
    r = o.cli("check")
    assert r.returncode == 2
    assert re.search(r"master\.cf:\d+: .*starts with white space.*"
                     r"(service name|listen address)", r.stderr), r.stderr


def test_seed_starts(ostia_factory):
    """The seed, ports moved to free loopback ports, runs its smtpd
    services (the others are named in warnings)."""
    o, text = seed_instance(ostia_factory)
    with open(o.master_cf_path) as f:
        master = f.read()
    master = re.sub(r"^smtp(\s+inet)", "127.0.0.1:@port:smtp@\\1", master,
                    flags=re.M)
    master = re.sub(r"^smtps(\s+inet)", "127.0.0.1:@port:smtps@\\1", master,
                    flags=re.M)
    master = re.sub(r"^submission(\s+inet)", "127.0.0.1:@port:sub@\\1",
                    master, flags=re.M)
    master = master.replace("127.0.0.1:10025", "127.0.0.1:@port:reinject@")
    o.write_master_cf(master)
    os.makedirs(os.path.join(o.tmpdir, "log"), exist_ok=True)
    with open(o.main_cf_path, "a") as f:
        f.write("maillog_file = %s\n" % o.log_path)
    o.start_foreground()
    st = o.cli("status", check=True).stdout
    for name in ("smtp", "smtps", "sub", "reinject"):
        assert "service 127.0.0.1:%d/inet" % o.ports[name] in st


# ---- bad input -------------------------------------------------------

BAD_MAIN = [
    # (main.cf text, line, expected text in the error)
    ("maximal_queue_lifetime = 4x\n", 1,
     r'invalid value "4x" for maximal_queue_lifetime: expected a time: a '
     r'number with an optional unit s \(seconds\), m \(minutes\), h '
     r'\(hours\), d \(days\) or w \(weeks\); without a unit it counts in d'),
    ("# comment\nmessage_size_limit = -1\n", 2,
     r'invalid value "-1" for message_size_limit: expected a size in bytes'),
    ("smtpd_helo_required = maybe\n", 1,
     r'invalid value "maybe" for smtpd_helo_required: expected yes or no'),
    ("smtpd_tls_security_level = sometimes\n", 1,
     r'invalid value "sometimes" for smtpd_tls_security_level: expected '
     r'one of: none, may, encrypt'),
    ("default_process_limit = 0\n", 1,
     r'invalid value "0" for default_process_limit: expected a whole number '
     r'from 1'),
    ("myhostname example.com\n", 1,
     r'expected "name = value" but found "myhostname example.com"'),
    ("  indented = 1\n", 1, r"white space"),
    ("virtual_alias_maps = mysql\n", 1,
     r'"mysql" is not a lookup table: expected type:name'),
    ("myorigin = ${mydomain\n", 1, r"myorigin: missing '}' after"),
    ("loop_a = $loop_b\nloop_b = $loop_a\nmyhostname = $loop_a\n", 3,
     r"loop"),
    ("debug_peer_list = 10.0.0.1/33\n", 1, r"debug_peer_list"),
    # Client lists take local tables only, checked at load.
    ("mynetworks = 127.0.0.0/8 mysql:/etc/ostia/mynetworks.cf\n", 1,
     r'mynetworks: "mysql:/etc/ostia/mynetworks.cf": a mysql: table cannot '
     r'be used in mynetworks: it is looked up in the SMTP server itself'),
    ("permit_mx_backup_networks = nosuch:/etc/x\n", 1,
     r'permit_mx_backup_networks: "nosuch:/etc/x": unknown table type'),
    ("mynetworks = 10.0.0.0/33\n", 1,
     r'mynetworks: "10.0.0.0/33": invalid prefix length'),
    ("notify_classes = resource, sofware\n", 1,
     r'invalid value "resource, sofware" for notify_classes: "sofware" is '
     r'not a valid element: expected one of: bounce, 2bounce, data, delay, '
     r'policy, protocol, resource, software'),
]


@pytest.mark.parametrize("text,line,expected", BAD_MAIN)
def test_bad_main_cf_is_refused_with_file_and_line(ostia_factory, text, line,
                                                   expected):
    o = ostia_factory()
    o.write_main_cf_text(text + "queue_directory = %s/spool\n" % o.tmpdir)
    r = o.cli("check")
    assert r.returncode == 2, r.stderr
    assert re.search(r"ostia: error: %s:%d: .*%s" % (
        re.escape(o.main_cf_path), line, expected), r.stderr), r.stderr
    # And the master refuses to start on it.
    r = o.cli("run", timeout=20)
    assert r.returncode == 1
    assert o.cli("status").returncode == 1


BAD_MASTER = [
    ("smtp inet n - n - 1\n", 1, r"fields"),
    ("smtp tcp n - n - 1 smtpd\n", 1, r"tcp"),
    ("smtp inet maybe - n - 1 smtpd\n", 1, r"maybe"),
    ("smtp inet n - n - lots smtpd\n", 1, r"lots"),
    ("smtp inet n - n - 1 smtpd\n  -o\n", 1, r"-o"),
    ("smtp inet n - n - 1 smtpd\nsmtp inet n - n - 1 smtpd\n", 2,
     r"duplicate service 'smtp' \(inet\): it is also defined at .*"
     r"master\.cf:1"),
    ("127.0.0.1:2525 inet n - n - 1 smtpd -o message_size_limit=-1\n", 1,
     r"service 127\.0\.0\.1:2525: -o message_size_limit=-1: invalid value: "
     r"expected a size in bytes"),
]


@pytest.mark.parametrize("text,line,expected", BAD_MASTER)
def test_bad_master_cf_is_refused_with_file_and_line(ostia_factory, text,
                                                     line, expected):
    o = ostia_factory(master_cf=text)
    r = o.cli("check")
    assert r.returncode == 2, r.stderr
    assert re.search(r"ostia: error: %s:%d: .*%s" % (
        re.escape(o.master_cf_path), line, expected), r.stderr), r.stderr


def test_unknown_parameter_warns_with_nearest_name(ostia_factory):
    o = ostia_factory(main_cf={"mynetwork": "127.0.0.0/8",
                               "smtpd_recipient_restriction": "permit"})
    r = o.cli("check")
    assert r.returncode == 0, r.stderr
    assert re.search(r"main\.cf:\d+: unknown parameter mynetwork ignored; did "
                     r"you mean mynetworks\?", r.stderr), r.stderr
    assert re.search(r"unknown parameter smtpd_recipient_restriction ignored; "
                     r"did you mean smtpd_recipient_restrictions\?", r.stderr)
    assert len([l for l in warnings_of(r.stderr) if "mynetwork " in l]) == 1


def test_user_defined_parameters_are_not_unknown(ostia_factory):
    o = ostia_factory(main_cf={
        "mua_client_restrictions": "permit_sasl_authenticated, reject",
        "smtpd_client_restrictions": "$mua_client_restrictions"})
    r = o.cli("check")
    assert "mua_client_restrictions" not in r.stderr.replace(
        "smtpd_client_restrictions", "")
    r = o.conf("-x", "smtpd_client_restrictions", check=True)
    assert r.stdout == ("smtpd_client_restrictions = "
                        "permit_sasl_authenticated, reject\n")


def test_conf_forms(ostia_factory):
    o = ostia_factory(main_cf={"myorigin": "$mydomain",
                               "mydomain": "example.org"})
    r = o.conf("myorigin", "mydomain", check=True)
    assert r.stdout == "myorigin = $mydomain\nmydomain = example.org\n"
    assert o.conf("-x", "myorigin", check=True).stdout == \
        "myorigin = example.org\n"
    assert o.conf("-h", "mydomain", check=True).stdout == "example.org\n"
    assert o.conf("-d", "myorigin", check=True).stdout == \
        "myorigin = $myhostname\n"
    assert o.conf("-d", "mail_owner", check=True).stdout == \
        "mail_owner = ostia\n"
    full = o.conf(check=True).stdout
    assert "message_size_limit = " in full and "mydomain = example.org" in full
    r = o.conf("mynetwork")
    assert r.returncode == 1 and "did you mean mynetworks?" in r.stderr
    # -c DIR selects the configuration everywhere: config_directory says so.
    assert o.conf("config_directory", check=True).stdout == \
        "config_directory = %s\n" % o.confdir


def test_conf_e_edits_in_place(ostia_factory):
    o = ostia_factory()
    original = ("# top comment\n"
                "myhostname = old.example\n"
                "# keep me\n"
                "mydestination = a,\n"
                "    b,\n"
                "\n"
                "    c\n"
                "queue_directory = %s/spool\n"
                "myhostname = dup.example\n" % o.tmpdir)
    o.write_main_cf_text(original)
    r = o.conf("-e", "myhostname=new.example", "mydestination = x, y",
               "message_size_limit=20480000")
    assert r.returncode == 0, r.stderr
    with open(o.main_cf_path) as f:
        text = f.read()
    assert text == ("# top comment\n"
                    "myhostname = new.example\n"
                    "# keep me\n"
                    "mydestination = x, y\n"
                    "\n"
                    "queue_directory = %s/spool\n"
                    "message_size_limit = 20480000\n" % o.tmpdir)
    # An invalid value is refused and nothing changes.
    r = o.conf("-e", "maximal_queue_lifetime=4x")
    assert r.returncode == 1
    assert "maximal_queue_lifetime = 4x: invalid value" in r.stderr
    with open(o.main_cf_path) as f:
        assert f.read() == text
    # -X removes.
    o.conf("-X", "message_size_limit", check=True)
    with open(o.main_cf_path) as f:
        assert "message_size_limit" not in f.read()
    leftovers = [n for n in os.listdir(o.confdir) if "ostia-edit" in n]
    assert leftovers == []


def test_missing_configuration_directory(ostia_factory):
    o = ostia_factory()
    r = o.cli("-c", os.path.join(o.tmpdir, "nope"), "check")
    assert r.returncode == 2
    assert "main.cf: cannot open: No such file or directory" in r.stderr
    assert "-c DIR" in r.stderr
