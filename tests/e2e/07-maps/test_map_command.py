# SPDX-License-Identifier: MIT
"""`ostia map`: build FILE.lmdb from a postmap text file and query tables.

Builds and queries lmdb: and hash: tables (hash: reads the same LMDB file),
texthash: and inline: tables; checks the exit statuses (0 found, 1 not
found, 75 the table could not answer or be opened), syntax errors with
file:line that leave the old table in place, duplicate-key warnings, the
owner rule (a file owned by a stranger is refused, one owned by mail_owner
is trusted when root), and that a rebuild replaces the table atomically
(no temporary file left, queries see the new contents).
"""

import os
import pwd
import stat

import pytest

STRANGER_UID = 54321

TABLE = """\
# virtual aliases
Info@Example.com   a@example.org, b@example.org
@example.net       catchall@example.org
long               first part
    second part
dup                one
dup                two
"""


def write(path, text, mode=0o644):
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


@pytest.fixture
def inst(ostia_factory):
    return ostia_factory()


def table_path(o, name="virtual"):
    d = os.path.join(o.tmpdir, "tables")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    return os.path.join(d, name)


def test_build_and_query(inst):
    path = table_path(inst)
    write(path, TABLE)
    r = inst.cli("map", path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    # The duplicate is a warning naming the line; the first one wins.
    assert "%s, line 7: duplicate entry \"dup\" ignored" % path in r.stderr
    st = os.stat(path + ".lmdb")
    assert stat.S_IMODE(st.st_mode) == 0o644
    # Nothing else beside the table: no temporary or lock file.
    assert sorted(os.listdir(os.path.dirname(path))) == \
        ["virtual", "virtual.lmdb"]

    r = inst.cli("map", "-q", "INFO@example.COM", "lmdb:" + path)
    assert (r.returncode, r.stdout) == (0, "a@example.org, b@example.org\n")
    r = inst.cli("map", "-q", "long", path)      # no type: lmdb
    assert (r.returncode, r.stdout) == (0, "first part    second part\n")
    r = inst.cli("map", "-q", "dup", "lmdb:" + path)
    assert r.stdout == "one\n"
    r = inst.cli("map", "-q", "nobody@example.com", "lmdb:" + path)
    assert (r.returncode, r.stdout) == (1, "")

    r = inst.cli("map", "-q", "-", "lmdb:" + path,
                 input="nobody@x\n@EXAMPLE.net\ninfo@example.com\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ("@EXAMPLE.net catchall@example.org\n"
                        "info@example.com a@example.org, b@example.org\n")
    r = inst.cli("map", "-q", "-", "lmdb:" + path, input="a\nb\n")
    assert (r.returncode, r.stdout) == (1, "")

    r = inst.cli("map", "-s", "lmdb:" + path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "@example.net catchall@example.org", "dup one",
        "info@example.com a@example.org, b@example.org",
        "long first part    second part"]


def test_hash_reads_the_lmdb_file(inst):
    path = table_path(inst, "access")
    write(path, "example.com REJECT go away\n")
    r = inst.cli("map", "hash:" + path)
    assert r.returncode == 0, r.stderr
    assert "hash:%s is read from this LMDB file" % path in r.stderr
    assert os.path.exists(path + ".lmdb")
    assert not os.path.exists(path + ".db")
    for t in ("hash", "lmdb"):
        r = inst.cli("map", "-q", "Example.COM", "%s:%s" % (t, path))
        assert (r.returncode, r.stdout) == (0, "REJECT go away\n")
    # btree: and others are not built.
    r = inst.cli("map", "btree:" + path)
    assert r.returncode == 1
    assert "builds lmdb: and hash: tables only" in r.stderr


def test_other_types_and_several_tables(inst):
    path = table_path(inst, "text")
    write(path, "k from-texthash\n")
    r = inst.cli("map", "-q", "K", "texthash:" + path)
    assert (r.returncode, r.stdout) == (0, "from-texthash\n")
    r = inst.cli("map", "-q", "b", "inline:{ a=1, { b = two words } }")
    assert (r.returncode, r.stdout) == (0, "two words\n")
    # First table that has the key wins.
    r = inst.cli("map", "-q", "k", "inline:{ x=1 }", "texthash:" + path,
                 "static:last")
    assert r.stdout == "from-texthash\n"
    r = inst.cli("map", "-q", "zz", "inline:{ x=1 }", "texthash:" + path,
                 "static:last")
    assert r.stdout == "last\n"


def test_syntax_error_keeps_old_table(inst):
    path = table_path(inst)
    write(path, "k old\n")
    assert inst.cli("map", path).returncode == 0
    before = os.stat(path + ".lmdb")
    write(path, "k new\n# comment\n\nbroken\n")
    r = inst.cli("map", path)
    assert r.returncode == 1
    assert "%s, line 4: \"broken\" has no value" % path in r.stderr
    after = os.stat(path + ".lmdb")
    assert (after.st_ino, after.st_mtime_ns) == \
        (before.st_ino, before.st_mtime_ns)
    r = inst.cli("map", "-q", "k", path)
    assert r.stdout == "old\n"
    write(path, "\"unbalanced v\n")
    r = inst.cli("map", path)
    assert r.returncode == 1
    assert "%s, line 1: unbalanced double quote" % path in r.stderr


def test_rebuild_replaces_the_table(inst):
    path = table_path(inst)
    write(path, "k old\ngone 1\n")
    assert inst.cli("map", path).returncode == 0
    ino = os.stat(path + ".lmdb").st_ino
    write(path, "k new\nadded 2\n", mode=0o600)
    assert inst.cli("map", path).returncode == 0
    st = os.stat(path + ".lmdb")
    assert st.st_ino != ino                      # a new file, renamed in
    assert stat.S_IMODE(st.st_mode) == 0o600     # source's read bits
    assert inst.cli("map", "-q", "k", path).stdout == "new\n"
    assert inst.cli("map", "-q", "gone", path).returncode == 1
    assert inst.cli("map", "-q", "added", path).stdout == "2\n"
    assert sorted(os.listdir(os.path.dirname(path))) == \
        ["virtual", "virtual.lmdb"]


def test_missing_table_is_a_temporary_failure(inst):
    path = table_path(inst, "nothing")
    r = inst.cli("map", "-q", "k", "hash:" + path)
    assert r.returncode == 75
    assert ("%s.lmdb: no such file: build it from the text file with "
            "`ostia map hash:%s`" % (path, path)) in r.stderr
    r = inst.cli("map", "-q", "k", "nosuchtype:x")
    assert r.returncode == 75
    assert "unknown table type" in r.stderr
    r = inst.cli("map")
    assert r.returncode == 2


def test_untrusted_owner_is_refused(inst):
    if os.geteuid() != 0:
        pytest.skip("needs root to give files to another uid")
    path = table_path(inst)
    write(path, "k v\n")
    os.chown(path, STRANGER_UID, -1)
    r = inst.cli("map", path)
    assert r.returncode == 1
    assert ("%s: owned by uid %d, not by root or the mail owner: "
            "refusing it" % (path, STRANGER_UID)) in r.stderr
    assert not os.path.exists(path + ".lmdb")

    # Owned by mail_owner (from main.cf): trusted.
    owner = pwd.getpwnam(inst.user)
    os.chown(path, owner.pw_uid, -1)
    r = inst.cli("map", path)
    assert r.returncode == 0, r.stderr
    assert inst.cli("map", "-q", "k", path).stdout == "v\n"

    # A table file given to a stranger: the lookup cannot be trusted.
    os.chown(path + ".lmdb", STRANGER_UID, -1)
    r = inst.cli("map", "-q", "k", path)
    assert r.returncode == 75
    assert "owned by uid %d" % STRANGER_UID in r.stderr
    assert r.stdout == ""

    # Writable by others: refused whoever owns it.
    os.chown(path + ".lmdb", 0, -1)
    os.chmod(path + ".lmdb", 0o666)
    r = inst.cli("map", "-q", "k", path)
    assert r.returncode == 75
    assert "writable by everyone: refusing it" in r.stderr


def test_no_folding_with_f(inst):
    path = table_path(inst, "cased")
    write(path, "MixedCase v\n")
    assert inst.cli("map", "-f", path).returncode == 0
    r = inst.cli("map", "-f", "-q", "MixedCase", path)
    assert (r.returncode, r.stdout) == (0, "v\n")
    # Without -f the query key is folded, as the mail system folds it.
    assert inst.cli("map", "-q", "MixedCase", path).returncode == 1
    assert inst.cli("map", "-f", "-q", "mixedcase", path).returncode == 1
