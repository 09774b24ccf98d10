# SPDX-License-Identifier: MIT
"""The sendmail command, and the mailq and newaliases names.

A local submission never touches the network: the command writes a
maildrop file into $queue_directory/maildrop (root and mail_owner
directly, anybody else through the set-group-ID helper ostia-postdrop),
and pickup in the queue process checks it and queues it.  Here: -t
(recipients from To:/Cc:/Bcc:, Bcc: removed), the headers added to a
message that lacks them, -f honoured for root and ignored for an
ordinary user (whose login becomes the sender), -F, -i and the lone
dot, -N (a success notice comes back), -v (the queue ID), a maildrop
file that does not pass pickup's checks moved aside with the uid and
the reason in the log, and the names sendmail, mailq and newaliases
through symbolic links.
"""

import grp
import os
import pwd
import re
import smtplib
import subprocess
import time

import pytest

from ostia_harness import queue_files
from delivery_e2e import (QUEUE_ID, SENDER, VDOMAIN, header_block,
                          make_message, read_bytes, token)

ALICE = "alice@" + VDOMAIN
BOB = "bob@" + VDOMAIN
CAROL = "carol@" + VDOMAIN
ROOT = os.geteuid() == 0
ME = pwd.getpwuid(os.getuid()).pw_name
# An ordinary user for the set-group-ID path: neither root nor the
# test's mail_owner (the harness's test user is mail_owner, whom the
# command trusts and who writes the maildrop itself).
PLAIN_USER = "nobody"


def plain_user():
    try:
        return pwd.getpwnam(PLAIN_USER)
    except KeyError:
        pytest.skip("no user %s to submit as an ordinary user" % PLAIN_USER)


def run(bindir, d, args, data=b"", name="sendmail", user=None, copt="-C"):
    """Run BINDIR/NAME -C CONFDIR ARGS with data on standard input, as
    user (a login) when given (root only); copt: the option that names
    the configuration directory ("-c" for Postfix's other commands)."""
    cmd = [os.path.join(bindir, name), copt, d.o.confdir] + list(args)
    kw = {}
    if user is not None:
        pw = pwd.getpwnam(user)
        kw = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
    return subprocess.run(cmd, input=data, capture_output=True, timeout=60,
                          cwd="/", env={"PATH": "/usr/bin:/bin"}, **kw)


def ok(r, what="sendmail"):
    assert r.returncode == 0, "%s exited %d\nstdout: %r\nstderr: %r" % (
        what, r.returncode, r.stdout, r.stderr)
    return r


def make_setgid(bindir):
    """Install the helper as it must be: group ostia-postdrop, 2755 (the
    group exists once the master has started)."""
    helper = os.path.join(bindir, "ostia-postdrop")
    gid = grp.getgrnam("ostia-postdrop").gr_gid
    os.chown(helper, 0, gid)
    os.chmod(helper, 0o2755)
    return helper


def headers(data):
    """{lower-case name: [values]} of a delivered message (LF lines)."""
    out = {}
    for line in header_block(data):
        name, sep, value = line.decode("utf-8", "replace").partition(":")
        if sep:
            out.setdefault(name.strip().lower(), []).append(value.strip())
    return out


def body_of(data):
    i = data.find(b"\n\n")
    assert i >= 0, data[:300]
    return data[i + 2:]


def delivered(d, rcpt, tok):
    [path] = d.wait_messages(rcpt, 1, containing=tok)
    return read_bytes(path)


def test_t_delivers_and_removes_bcc(delivery, bindir):
    d = delivery().start()
    tok = token()
    # Return-Path and Content-Length go too (message_drop_headers).
    msg = ("Return-Path: <forged@example.com>\nContent-Length: 1\n"
           "To: Alice Example <%s>\nCc: bob (the builder)\n  <%s>\n"
           "Bcc: %s\nSubject: %s\n\nHello from cron, %s.\n"
           % (ALICE, BOB, CAROL, tok, tok)).encode()
    r = ok(run(bindir, d, ["-t", "-i"], msg))
    assert r.stdout == b"", r.stdout
    uid = os.getuid()
    for rcpt in (ALICE, BOB, CAROL):
        data = delivered(d, rcpt, tok)
        h = headers(data)
        assert "bcc" not in h, "Bcc: left in the copy of %s:\n%s" % (
            rcpt, data.decode())
        assert len(h["return-path"]) == 1 and "content-length" not in h, \
            data.decode()
        assert data.startswith(("Return-Path: <%s@%s>" % (ME, VDOMAIN))
                               .encode()), data[:200]
        # pickup's trace header, then what sendmail added.
        assert any(re.fullmatch(r"by mx\.ostia\.test \(Ostia, from userid "
                                r"%d\) id %s; .*" % (uid, QUEUE_ID), v)
                   for v in h.get("received", [])), h.get("received")
        assert h["from"] and ("%s@%s" % (ME, VDOMAIN)) in h["from"][0], h
        assert len(h["date"]) == 1 and len(h["message-id"]) == 1, h
        assert re.fullmatch(r"<\d{14}\.%s@mx\.ostia\.test>" % QUEUE_ID,
                            h["message-id"][0]), h["message-id"]
        assert body_of(data) == ("Hello from cron, %s.\n" % tok).encode()
    d.wait_log(r"ostia/queue\[\d+\]: %s: uid=%d from=<%s@%s>$"
               % (QUEUE_ID, uid, re.escape(ME), re.escape(VDOMAIN)))
    assert not os.listdir(os.path.join(d.o.queue_dir, "maildrop"))


def test_header_addresses_are_completed(delivery, bindir):
    """Local mail gets what Postfix's cleanup does to its header
    addresses: "user" -> user@$myorigin (append_at_myorigin), only in
    the address headers of the primary header block; display names and
    comments stay."""
    d = delivery().start()
    tok = token()
    msg = ("To: Alice <%s>\nCc: bob (the builder)\nReply-To: helpdesk\n"
           "Subject: %s bob\n\nCc: carol\n" % (ALICE, tok)).encode()
    ok(run(bindir, d, ["-t", "-i"], msg))
    data = delivered(d, ALICE, tok)
    h = headers(data)
    assert h["to"] == ["Alice <%s>" % ALICE], h
    assert h["cc"] == ["bob@%s (the builder)" % VDOMAIN], h
    assert h["reply-to"] == ["helpdesk@%s" % VDOMAIN], h
    assert h["subject"] == ["%s bob" % tok], h
    assert body_of(data) == b"Cc: carol\n", data


def test_f_and_F_honoured_for_a_trusted_user(delivery, bindir):
    """Root (or, without root, the test user, who is mail_owner) chooses
    the sender; -F names it in the From: header; -v prints the ID."""
    d = delivery().start()
    tok = token()
    r = ok(run(bindir, d, ["-v", "-f", SENDER, "-F", "Cron Daemon", ALICE],
               ("Subject: %s\n\nbody %s\n" % (tok, tok)).encode()))
    m = re.fullmatch(rb"queued as (%s)\n" % QUEUE_ID.encode(), r.stdout)
    assert m, r.stdout
    qid = m.group(1).decode()
    data = delivered(d, ALICE, tok)
    assert data.startswith(("Return-Path: <%s>" % SENDER).encode()), \
        data[:200]
    assert headers(data)["from"] == ["Cron Daemon <%s>" % SENDER], data
    d.wait_log(r"ostia/queue\[\d+\]: %s: uid=%d from=<%s>$"
               % (qid, os.getuid(), re.escape(SENDER)))
    d.wait_log(r"%s: to=<%s>.*status=sent" % (qid, re.escape(ALICE)))


def test_lone_dot_and_i(delivery, bindir):
    d = delivery().start()
    tok = token()
    text = ("Subject: %s\r\n\r\nline one\r\n.\r\nline three\r\n"
            % tok).encode()
    ok(run(bindir, d, [ALICE], text))
    data = delivered(d, ALICE, tok)
    assert body_of(data) == b"line one\n", data
    tok2 = token()
    ok(run(bindir, d, ["-oi", BOB], text.replace(tok.encode(),
                                                 tok2.encode())))
    data = delivered(d, BOB, tok2)
    assert body_of(data) == b"line one\n.\nline three\n", data


def test_notify_success(delivery, bindir):
    d = delivery().start()
    tok = token()
    ok(run(bindir, d, ["-f", SENDER, "-N", "success,failure", ALICE],
           ("Subject: %s\n\nbody\n" % tok).encode()))
    delivered(d, ALICE, tok)
    dsn = d.wait_dsn(SENDER, containing=tok)
    assert dsn.recipient(ALICE).get("action") == "delivered", dsn.describe()


@pytest.mark.skipif(not ROOT, reason="needs root to run as another user "
                    "and to install the set-group-ID helper")
def test_ordinary_user_through_the_helper(delivery, bindir):
    pw = plain_user()
    d = delivery().start()
    tok = token()
    msg = ("To: %s\nSubject: %s\n\nfrom an ordinary user\n"
           % (ALICE, tok)).encode()
    # Not installed yet: a clear refusal, nothing queued.
    r = run(bindir, d, ["-t"], msg, user=PLAIN_USER)
    assert r.returncode == 73, (r.returncode, r.stderr)
    assert b"chgrp ostia-postdrop" in r.stderr and b"chmod 2755" in \
        r.stderr, r.stderr
    make_setgid(bindir)
    r = ok(run(bindir, d, ["-t", "-v", "-f", "root@" + VDOMAIN], msg,
               user=PLAIN_USER))
    assert b"-f root@%s ignored" % VDOMAIN.encode() in r.stderr, r.stderr
    qid = re.fullmatch(rb"queued as (%s)\n" % QUEUE_ID.encode(),
                       r.stdout).group(1).decode()
    data = delivered(d, ALICE, tok)
    sender = "%s@%s" % (PLAIN_USER, VDOMAIN)
    assert data.startswith(("Return-Path: <%s>" % sender).encode()), \
        data[:200]
    h = headers(data)
    assert any(("from userid %d)" % pw.pw_uid) in v
               for v in h["received"]), h["received"]
    d.wait_log(r"ostia/queue\[\d+\]: %s: uid=%d from=<%s>$"
               % (qid, pw.pw_uid, re.escape(sender)))
    # The maildrop stays closed to the user: no listing, no reading.
    md = os.path.join(d.o.queue_dir, "maildrop")
    st = os.stat(md)
    assert st.st_mode & 0o7777 == 0o1730, oct(st.st_mode)
    assert st.st_gid == grp.getgrnam("ostia-postdrop").gr_gid
    r = subprocess.run(["/bin/ls", md], capture_output=True,
                       user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
    assert r.returncode != 0, r.stdout


# ---------------------------------------------------------------- pickup

def record(t, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return t.encode() + len(payload).to_bytes(4, "big") + payload


def maildrop_file(name, uid, login, rcpt=ALICE, body=b"Subject: x\r\n\r\n",
                  protocol="maildrop", extra=b"", sender=None):
    """A maildrop file as docs/queue-format.md describes it."""
    hdr = record("u", "ostia-maildrop 1 %d %s" % (uid, login))
    q = (record("V", "ostia-queue 1") + record("I", name) +
         record("T", "1717171717.000000") + record("C", "localhost") +
         record("A", "127.0.0.1") + record("H", "") +
         record("P", protocol) + record("L", "sendmail") +
         record("S", sender or "%s@%s" % (login, VDOMAIN)) +
         record("R", rcpt) +
         record("M", "") + record("D", body) + extra +
         record("X", str(len(body))))
    return hdr + q


def drop(d, name, data, mode=0o444, owner=None):
    """Put a file into the maildrop as the writer does: unreadable
    (0200) while written, its owner set, then mode (0444: complete)."""
    path = os.path.join(d.o.queue_dir, "maildrop", name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o200)
    try:
        os.write(fd, data)
        if owner is not None:
            os.fchown(fd, owner, -1)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return path


def ids(n):
    """n fresh maildrop names, in order (queue IDs of this process)."""
    out = []
    while len(out) < n:
        us = time.time_ns() // 1000 - 1704067200 * 1000000
        v = (us << 30) | ((len(out) + 1) << 12) | (os.getpid() & 0xfff)
        alpha = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
        s = "".join(alpha[(v >> (5 * (15 - i))) & 31] for i in range(16))
        out.append(s)
    return sorted(out)


def test_bad_maildrop_files_are_moved_aside(delivery):
    d = delivery().start()
    uid = os.getuid()
    corrupt = os.path.join(d.o.queue_dir, "corrupt")
    pending, abandoned, garbage, filt, good = ids(5)
    start = d.o.log_mark()
    # Still being written (no read permission): left alone; but not
    # after an hour.
    drop(d, pending, b"half a file", mode=0o200)
    old = os.path.join(d.o.queue_dir, "maildrop", abandoned)
    drop(d, abandoned, b"the writer died", mode=0o200)
    os.utime(old, (os.stat(old).st_atime, os.stat(old).st_mtime - 7200))
    drop(d, garbage, b"this is not a maildrop file\n")
    tok = token()
    # A content filter record would route around the recipients.
    drop(d, filt, maildrop_file(filt, uid, ME, extra=record(
        "F", "smtp:[192.0.2.1]:25")))
    d.wait_log(r"maildrop file %s from uid %d moved to corrupt/maildrop\.%s: "
               r"no maildrop header" % (garbage, uid, garbage), start=start)
    d.wait_log(r"maildrop file %s from uid %d moved to corrupt/maildrop\.%s: "
               r"record 'F' \(content filter\) is not allowed"
               % (filt, uid, filt), start=start)
    d.wait_log(r"maildrop file %s from uid %d moved to corrupt/maildrop\.%s: "
               r"left unfinished for more than an hour"
               % (abandoned, uid, abandoned), start=start)
    assert os.path.exists(os.path.join(corrupt, "maildrop." + garbage))
    assert os.path.exists(os.path.join(corrupt, "maildrop." + filt))
    # A sound file after them is queued; the one being written stays.
    drop(d, good, maildrop_file(good, uid, ME,
                                body=("Subject: %s\r\n\r\nok\r\n" % tok)
                                .encode()))
    delivered(d, ALICE, tok)
    assert os.listdir(os.path.join(d.o.queue_dir, "maildrop")) == [pending]
    if ROOT:
        # The header must name the file's owner.
        pw = plain_user()
        liar, claim = ids(2)
        drop(d, liar, maildrop_file(liar, 0, "root"), owner=pw.pw_uid)
        d.wait_log(r"maildrop file %s from uid %d moved to "
                   r"corrupt/maildrop\.%s: the maildrop header names uid 0, "
                   r"but the file belongs to uid %d"
                   % (liar, pw.pw_uid, liar, pw.pw_uid), start=start)
        # An ordinary user's file naming another sender: pickup uses the
        # user's login (the file's S record claims root).
        tok = token()
        drop(d, claim, maildrop_file(
            claim, pw.pw_uid, PLAIN_USER, sender="root@" + VDOMAIN,
            body=("Subject: %s\r\n\r\nclaim\r\n" % tok).encode()),
            owner=pw.pw_uid)
        data = delivered(d, ALICE, tok)
        assert data.startswith(("Return-Path: <%s@%s>" % (PLAIN_USER,
                                                          VDOMAIN))
                               .encode()), data[:200]
        d.wait_log(r"ostia/queue\[\d+\]: %s: uid=%d from=<%s@%s> \(sender "
                   r"<root@%s> not honoured" % (
                       QUEUE_ID, pw.pw_uid, PLAIN_USER,
                       re.escape(VDOMAIN), re.escape(VDOMAIN)), start=start)


def test_authorized_submit_users(delivery, bindir):
    """authorized_submit_users = !nobody, static:anyone: the sendmail
    command refuses nobody with exit 77 and words; a maildrop file that
    nobody makes with the helper directly (bypassing the command) is
    dropped by pickup, with a log line; the test user still sends."""
    pw = plain_user()
    d = delivery()
    d.params["authorized_submit_users"] = "!%s, static:anyone" % PLAIN_USER
    d.start()
    make_setgid(bindir)
    tok = token()
    msg = ("To: %s\nSubject: %s\n\nrefused\n" % (ALICE, tok)).encode()
    r = run(bindir, d, ["-t"], msg, user=PLAIN_USER)
    assert r.returncode == 77, (r.returncode, r.stderr)
    assert ("%s (uid %d) may not submit mail: refused by \"!%s\" "
            "(authorized_submit_users in %s/main.cf)"
            % (PLAIN_USER, pw.pw_uid, PLAIN_USER, d.o.confdir)).encode() \
        in r.stderr, r.stderr
    assert os.listdir(os.path.join(d.o.queue_dir, "maildrop")) == []
    # The helper used directly: pickup enforces the list.
    [name] = ids(1)
    helper = os.path.join(bindir, "ostia-postdrop")
    body = ("Subject: %s\r\n\r\nbypass\r\n" % tok).encode()
    data = maildrop_file(name, pw.pw_uid, PLAIN_USER, body=body)
    # The helper writes the maildrop header itself: give it the rest.
    data = data[len(record("u", "ostia-maildrop 1 %d %s"
                           % (pw.pw_uid, PLAIN_USER))):]
    r = subprocess.run([helper, os.path.join(d.o.queue_dir, "maildrop"),
                        name], input=data, capture_output=True, timeout=30,
                       user=pw.pw_uid, group=pw.pw_gid, extra_groups=[],
                       cwd="/", env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    d.wait_log(r"ostia/queue\[\d+\]: warning: maildrop file %s from uid "
               r"%d dropped: %s \(uid %d\) may not submit mail: refused by "
               r"\"!%s\" \(authorized_submit_users\)"
               % (name, pw.pw_uid, PLAIN_USER, pw.pw_uid, PLAIN_USER))
    assert name not in os.listdir(os.path.join(d.o.queue_dir, "maildrop"))
    assert not os.path.exists(os.path.join(d.o.queue_dir, "corrupt",
                                           "maildrop." + name))
    # Everyone else still may.
    tok = token()
    ok(run(bindir, d, ["-t"], ("To: %s\nSubject: %s\n\nok\n"
                               % (ALICE, tok)).encode()))
    delivered(d, ALICE, tok)


# ---------------------------------------------------------------- names

def test_mailq_newaliases_and_modes(delivery, bindir):
    d = delivery().start()
    r = ok(run(bindir, d, [], name="mailq"), "mailq")
    q = ok(d.queue(), "ostia queue")
    assert r.stdout.decode() == q.stdout, (r.stdout, q.stdout)
    r = ok(run(bindir, d, ["-bp"]), "sendmail -bp")
    assert r.stdout.decode() == q.stdout
    # newaliases builds alias_database.
    aliases = os.path.join(d.tables, "aliases")
    with open(aliases, "w") as f:
        f.write("postmaster: root\nabuse: root\n")
    os.chmod(aliases, 0o644)
    d.o.set_param("alias_database", "lmdb:" + aliases)
    r = ok(run(bindir, d, [], name="newaliases"), "newaliases")
    assert os.path.exists(aliases + ".lmdb"), (r.stdout, r.stderr)
    os.unlink(aliases + ".lmdb")
    ok(run(bindir, d, ["-bi"]), "sendmail -bi")
    assert os.path.exists(aliases + ".lmdb")
    # Usage errors exit 64.
    r = run(bindir, d, [], b"Subject: x\n\nno recipients\n")
    assert r.returncode == 64 and b"no recipients" in r.stderr, r
    r = run(bindir, d, ["-Y", ALICE], b"x\n")
    assert r.returncode == 64 and b"unknown option -Y" in r.stderr, r
    # -t with no recipient in the headers: a data error.
    r = run(bindir, d, ["-t"], b"Subject: nobody\n\nx\n")
    assert r.returncode == 65, r
    # ostia sendmail is the same command.
    tok = token()
    r = subprocess.run([d.o.binary, "-c", d.o.confdir, "sendmail", ALICE],
                       input=("Subject: %s\n\nvia ostia sendmail\n" % tok)
                       .encode(), capture_output=True, timeout=60)
    ok(r, "ostia sendmail")
    delivered(d, ALICE, tok)


def test_message_size_limit(delivery, bindir):
    d = delivery()
    d.params["message_size_limit"] = "2000"
    d.start()
    r = run(bindir, d, [ALICE], b"Subject: big\n\n" + b"x" * 3000 + b"\n")
    assert r.returncode == 65 and b"message_size_limit" in r.stderr, r
    assert not os.listdir(os.path.join(d.o.queue_dir, "maildrop"))


def test_addresses_beginning_with_a_dash(delivery, bindir):
    """allow_min_user = no: a sender or recipient that begins with '-'
    is refused before anything is written (it would read as an option
    to a command that gets it)."""
    d = delivery().start()
    r = run(bindir, d, ["--", "-oQ/tmp@example.org"], b"Subject: x\n\nx\n")
    assert r.returncode == 64 and b"must not begin with '-'" in r.stderr, r
    r = run(bindir, d, ["-f", "-oQ@example.org", ALICE], b"Subject: x\n\nx\n")
    assert r.returncode == 64 and b"must not begin with '-'" in r.stderr, r
    r = run(bindir, d, ["-t"], b"To: -d@example.org\nSubject: x\n\nx\n")
    assert r.returncode == 65 and b"must not begin with '-'" in r.stderr, r
    assert not os.listdir(os.path.join(d.o.queue_dir, "maildrop"))


def test_masquerade_domains(delivery, bindir):
    """masquerade_domains hides the host part of local mail's addresses
    (the envelope sender, then the header addresses, after completion);
    masquerade_exceptions keeps root's; envelope recipients are not in
    the default masquerade_classes, so they keep their host (here a
    mailbox of the domain itself, which masquerading leaves alone)."""
    d = delivery()
    host = "cronbox.sub." + VDOMAIN
    d.params.update({"myorigin": host, "masquerade_domains": VDOMAIN,
                     "masquerade_exceptions": "root"})
    d.start()
    tok = token()
    msg = ("From: cron\nTo: Alice <%s>\nCc: ops@box.%s, root\n"
           "Reply-To: Helpdesk <help@%s>\nSubject: %s\n\nbody\n"
           % (ALICE, VDOMAIN, host, tok)).encode()
    ok(run(bindir, d, ["-i", "-f", "daemon@" + host, ALICE], msg))
    data = delivered(d, ALICE, tok)
    h = headers(data)
    assert data.startswith(("Return-Path: <daemon@%s>" % VDOMAIN)
                           .encode()), data[:200]
    assert h["from"] == ["cron@" + VDOMAIN], h
    assert h["to"] == ["Alice <%s>" % ALICE], h
    assert h["cc"] == ["ops@%s, root@%s" % (VDOMAIN, host)], h
    assert h["reply-to"] == ["Helpdesk <help@%s>" % VDOMAIN], h
    assert body_of(data) == b"body\n", data


def test_masquerade_settings_unusable_mail_waits(delivery, bindir):
    """Fail closed: with a masquerade_classes value Ostia does not know,
    a local submission is not queued unmasqueraded; it waits in
    maildrop and the log says why and what to do."""
    d = delivery()
    d.params.update({"masquerade_domains": VDOMAIN,
                     "masquerade_classes": "envelope_sender, bodies"})
    d.start()
    tok = token()
    ok(run(bindir, d, ["-i", ALICE],
           ("Subject: %s\n\nbody\n" % tok).encode()))
    d.wait_log(r"maildrop file \S+ from uid \d+ waits in maildrop: "
               r"masquerade_classes: unknown class \"bodies\".*"
               r"ostia reload")
    assert len(os.listdir(os.path.join(d.o.queue_dir, "maildrop"))) == 1
    assert [p for p in queue_files(d.o.queue_dir).values()
            if "/maildrop/" not in p] == []


def test_always_bcc(delivery, bindir):
    """always_bcc: every message, received over SMTP or submitted
    locally, also goes to that address (a bare name gets @$myorigin);
    not for a service with receive_override_options =
    no_address_mappings (a content filter's re-injection), as in
    Postfix."""
    d = delivery()
    d.params["always_bcc"] = "carol"
    d.master_extra = ("127.0.0.1:@port:reinject@ inet n - n - 1 smtpd\n"
                      "  -o receive_override_options=no_address_mappings\n")
    d.start()
    by_smtp, local, reinjected = token(), token(), token()
    d.send(ALICE, make_message(by_smtp, to=ALICE))
    ok(run(bindir, d, ["-i", BOB],
           ("To: %s\nSubject: %s\n\nbody\n" % (BOB, local)).encode()))
    s = smtplib.SMTP("127.0.0.1", d.o.ports["reinject"], timeout=30)
    try:
        s.sendmail(SENDER, [ALICE], make_message(reinjected, to=ALICE))
    finally:
        s.quit()
    d.wait_messages(ALICE, 1, by_smtp)
    d.wait_messages(BOB, 1, local)
    d.wait_messages(ALICE, 1, reinjected)
    d.wait_messages(CAROL, 1, by_smtp)
    d.wait_messages(CAROL, 1, local)
    d.wait_queue_empty()
    assert not any(reinjected.encode() in read_bytes(p)
                   for p in d.messages(CAROL)), "the re-injected copy"


def test_always_bcc_unusable_fails_closed(delivery, bindir):
    """An always_bcc that is not one address: smtpd refuses every
    message with 451 and says why in the log; local submissions wait in
    maildrop."""
    d = delivery()
    d.params["always_bcc"] = "a@example.com b@example.com"
    d.start()
    s = smtplib.SMTP("127.0.0.1", d.o.port, timeout=30)
    try:
        with pytest.raises(smtplib.SMTPDataError) as e:
            s.sendmail(SENDER, [ALICE], make_message(token(), to=ALICE))
        assert e.value.smtp_code == 451, e.value
        assert b"4.3.5" in e.value.smtp_error, e.value
    finally:
        s.quit()
    d.wait_log(r"smtpd\[\d+\]: error: \S+: always_bcc = a@example\.com "
               r"b@example\.com: spaces are not allowed")
    ok(run(bindir, d, ["-i", BOB], b"Subject: x\n\nbody\n"))
    d.wait_log(r"maildrop file \S+ from uid \d+ waits in maildrop: "
               r"always_bcc = ")
    assert [p for p in queue_files(d.o.queue_dir).values()
            if "/maildrop/" not in p] == []


def test_message_reject_and_strip_characters(delivery, bindir):
    """message_reject_characters: the sendmail command refuses such a
    message (exit 65, the byte and the setting named) and writes
    nothing; message_strip_characters: removed before delivery, as for
    mail received over SMTP."""
    d = delivery()
    d.params["message_reject_characters"] = "\\177"
    d.params["message_strip_characters"] = "\\001"
    d.start()
    bad, good = token(), token()
    r = run(bindir, d, ["-i", ALICE],
            ("Subject: %s\n\nbefore\x7fafter\n" % bad).encode())
    assert r.returncode == 65, (r.returncode, r.stderr)
    assert b"\\177" in r.stderr and b"message_reject_characters" in \
        r.stderr, r.stderr
    assert not os.listdir(os.path.join(d.o.queue_dir, "maildrop"))
    ok(run(bindir, d, ["-i", ALICE],
           ("Subject: %s\x01\n\nbo\x01dy\n" % good).encode()))
    data = delivered(d, ALICE, good)
    assert b"\x01" not in data, data
    assert ("Subject: %s\n" % good).encode() in data and \
        body_of(data) == b"body\n", data
    d.wait_queue_empty()
    assert not any(bad.encode() in read_bytes(p) for p in d.messages(ALICE))
