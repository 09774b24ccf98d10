# SPDX-License-Identifier: MIT
"""The local delivery agent: mail for mydestination users.

smtpd accepts mail for LOCAL_DOMAIN (local_recipient_maps empty), the
queue manager hands it to the `local` service, which delivers as the
recipient's system user: into ~/Maildir/ (home_mailbox = Maildir/) or the
mbox file mail_spool_directory/USER (From_ line, Return-Path:,
X-Original-To:, Delivered-To:, ">From " quoting), through alias_maps to
another user or to a command (run as default_privs, without a shell).
The agent process itself runs as mail_owner and only its helper keeps
root.  An unknown user bounces (5.1.1) and the sender gets the notice.
The parts that need other users run as root only (skipped otherwise).
"""

import os
import re
import stat

from local_users import LOCAL_DOMAIN, LOCAL_USERS
from delivery_e2e import (SENDER, agent_log_re, header_block, make_message,
                          maildir_files, proc_ids, read_bytes, service_pids,
                          token, wait_services_ready)
from ostia_harness import wait_until

U1, U2 = LOCAL_USERS
A1 = "%s@%s" % (U1, LOCAL_DOMAIN)
A2 = "%s@%s" % (U2, LOCAL_DOMAIN)


def wait_maildir(d, home, tok):
    def found():
        for p in maildir_files(os.path.join(home, "Maildir")):
            try:
                if tok.encode() in read_bytes(p):
                    return p
            except FileNotFoundError:
                pass
        return None
    try:
        return wait_until(found, 30, 0.1, "a message with %s in %s/Maildir"
                          % (tok, home))
    except AssertionError as e:
        raise AssertionError("%s\n%s" % (e, d.diag())) from None


def test_maildir_in_home(local_delivery, local_users, clean_homes):
    d = local_delivery()
    d.params["home_mailbox"] = "Maildir/"
    d.start()
    pw = local_users[U1]
    tok = token()
    d.send(A1, make_message(tok, to=A1))
    path = wait_maildir(d, pw.pw_dir, tok)
    assert os.path.dirname(path) == os.path.join(pw.pw_dir, "Maildir",
                                                 "new"), path
    st = os.stat(path)
    assert (st.st_uid, st.st_gid) == (pw.pw_uid, pw.pw_gid), \
        "message file owned by %d:%d, expected the recipient %d:%d" % (
            st.st_uid, st.st_gid, pw.pw_uid, pw.pw_gid)
    data = read_bytes(path)
    assert b"\r" not in data
    head = header_block(data)
    assert head[0] == ("Return-Path: <%s>" % SENDER).encode(), head[:4]
    assert head[1] == ("X-Original-To: %s" % A1).encode(), head[:4]
    assert head[2] == ("Delivered-To: %s" % A1).encode(), head[:4]
    assert head[3].startswith(b"Received: "), head[:4]
    d.wait_log(agent_log_re(A1, "sent", "delivered to maildir %s"
                            % re.escape(os.path.join(pw.pw_dir,
                                                     "Maildir/"))))
    assert re.search(r"to=<%s>, relay=local," % re.escape(A1),
                     d.o.log_text()), d.diag()


def test_mbox_in_spool_and_privileges(local_delivery, local_users):
    d = local_delivery()
    d.start()
    pw = local_users[U1]
    tok = token()
    body = ["Hello %s." % tok, "From the start of a line.", "bye"]
    d.send(A1, make_message(tok, to=A1, body=body))
    data = d.wait_file(d.mbox(U1), tok)
    st = os.stat(d.mbox(U1))
    assert stat.S_ISREG(st.st_mode)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (pw.pw_uid, 0o600), \
        "mailbox owned by uid %d mode %o, expected %d 600" % (
            st.st_uid, stat.S_IMODE(st.st_mode), pw.pw_uid)
    lines = data.split(b"\n")
    assert re.match(rb"From %s \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$"
                    % re.escape(SENDER.encode()), lines[0]), lines[:2]
    assert lines[1] == ("Return-Path: <%s>" % SENDER).encode(), lines[:4]
    assert b"\n>From the start of a line.\n" in data, data
    assert data.endswith(b"bye\n\n"), data[-40:]
    # The dotlock goes once the delivery is complete, which is a moment
    # after the text is in the file (the agent unlinks it after its
    # fsync): wait for that instead of racing it.
    lock = d.mbox(U1) + ".lock"
    wait_until(lambda: not os.path.exists(lock), timeout=30,
               what="the dotlock %s to be removed" % lock)
    d.wait_log(agent_log_re(A1, "sent", "delivered to mailbox"))
    # The agent process runs as mail_owner; its helper (its child) is
    # the only root process of the service.
    wait_services_ready(d.o)
    mail_owner = uid_of(d.user)
    agents = service_pids(d.o, "local")
    assert agents, d.diag()
    for pid in agents:
        ids = proc_ids(pid)
        assert ids is not None and ids[:2] == (mail_owner, mail_owner), \
            "local agent %d runs as %r, expected mail_owner %d" % (
                pid, ids, mail_owner)
        helpers = children_of(pid)
        assert helpers, "local agent %d has no helper process" % pid
        for h in helpers:
            assert proc_ids(h)[:2] == (0, 0), (h, proc_ids(h))



def test_strict_mailbox_ownership(local_delivery, local_users):
    """An mbox file that belongs to someone else than its recipient
    (here U2's file, writable by all, at U1's name): deferred with the
    owner named (strict_mailbox_ownership = yes, the default); written
    to with strict_mailbox_ownership = no."""
    for strict in ("yes", "no"):
        d = local_delivery()
        d.params["strict_mailbox_ownership"] = strict
        d.start()
        box = d.mbox(U1)
        with open(box, "wb"):
            pass
        os.chown(box, local_users[U2].pw_uid, local_users[U2].pw_gid)
        os.chmod(box, 0o666)
        tok = token()
        d.send(A1, make_message(tok, to=A1))
        if strict == "yes":
            d.wait_log(agent_log_re(A1, "deferred", r"mailbox %s belongs to "
                                    r"uid %d, not to the recipient"
                                    % (re.escape(box),
                                       local_users[U2].pw_uid)))
            with open(box, "rb") as f:
                assert tok.encode() not in f.read()
        else:
            d.wait_file(box, tok)
            d.wait_log(agent_log_re(A1, "sent", "delivered to mailbox"))
        d.o.stop()

def uid_of(user):
    import pwd
    return pwd.getpwnam(user).pw_uid


def children_of(pid):
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/status" % name) as f:
                text = f.read()
        except OSError:
            continue
        m = re.search(r"^PPid:\s+(\d+)", text, re.M)
        if m and int(m.group(1)) == pid:
            out.append(int(name))
    return out


def test_alias_to_another_user(local_delivery, local_users):
    d = local_delivery()
    d.aliases = {"team": U2, "both": "%s, %s" % (U1, U2)}
    d.start()
    tok = token()
    team = "team@" + LOCAL_DOMAIN
    d.send(team, make_message(tok, to=team))
    data = d.wait_file(d.mbox(U2), tok)
    assert ("\nX-Original-To: %s\nDelivered-To: %s\n" % (team, A2)).encode() \
        in data, data[:400]
    assert os.stat(d.mbox(U2)).st_uid == local_users[U2].pw_uid
    assert not os.path.exists(d.mbox(U1))
    d.wait_log(agent_log_re(team, "sent", "delivered to mailbox"))
    # One alias, two users: each mailbox once.
    tok2 = token()
    both = "both@" + LOCAL_DOMAIN
    d.send(both, make_message(tok2, to=both))
    d.wait_file(d.mbox(U1), tok2)
    data = d.wait_file(d.mbox(U2), tok2)
    assert data.count(("Message-ID: <%s@" % tok2).encode()) == 1, data
    d.wait_log(agent_log_re(both, "sent", "delivered to 2 destinations"))


def test_alias_command_writes_a_file(local_delivery, local_users):
    import pwd
    d = local_delivery()
    out = os.path.join(d.out, "piped")
    d.aliases = {"robot": "|/usr/bin/tee -a %s" % out,
                 "shelly": "|/usr/bin/tee -a %s/x > /dev/null" % d.out}
    d.start()
    tok = token()
    robot = "robot@" + LOCAL_DOMAIN
    d.send(robot, make_message(tok, to=robot))
    data = d.wait_file(out, tok)
    assert data.startswith(("From %s " % SENDER).encode()), data[:100]
    assert ("\nDelivered-To: %s\n" % robot).encode() in data, data[:400]
    # Run as default_privs (nobody), never as root or mail_owner.
    assert os.stat(out).st_uid == pwd.getpwnam("nobody").pw_uid
    d.wait_log(agent_log_re(robot, "sent", "delivered to command: "
                            "/usr/bin/tee"))
    # A command that needs a shell is deferred with the reason.
    shelly = "shelly@" + LOCAL_DOMAIN
    d.send(shelly, make_message(token(), to=shelly))
    d.wait_log(agent_log_re(shelly, "deferred", r".*holds the shell "
                            r"character '>'"))
    assert not os.path.exists(os.path.join(d.out, "x"))


def test_mailbox_command_maps(local_delivery, local_users):
    """mailbox_command_maps: U1's mailbox delivery runs the command its
    entry names, as U1 and without a shell; U2 (no entry) keeps the
    mbox; an entry that needs a shell defers with the reason."""
    d = local_delivery()
    out = os.path.join(d.out, "cmdmap")
    d.params["mailbox_command_maps"] = d.table(
        "cmdmaps", {U1: "/usr/bin/tee -a %s" % out,
                    U2: "/usr/bin/tee -a %s/y > /dev/null" % d.out})
    d.start()
    tok = token()
    d.send(A1, make_message(tok, to=A1))
    data = d.wait_file(out, tok)
    assert ("\nDelivered-To: %s\n" % A1).encode() in data, data[:400]
    assert os.stat(out).st_uid == local_users[U1].pw_uid
    d.wait_log(agent_log_re(A1, "sent", "delivered to command: "
                            "/usr/bin/tee"))
    d.send(A2, make_message(token(), to=A2))
    d.wait_log(agent_log_re(A2, "deferred", r"mailbox_command_maps entry "
                            r"for %s: .*'>'" % U2))
    assert not os.path.exists(os.path.join(d.out, "y"))
    assert not os.path.exists(d.mbox(U2))


def test_unknown_user_bounces(local_delivery):
    d = local_delivery()
    d.start()
    tok = token()
    rcpt = "nosuchuser-%s@%s" % (tok[-6:], LOCAL_DOMAIN)
    qid = d.send(rcpt, make_message(tok, to=rcpt))
    d.wait_log(agent_log_re(rcpt, "bounced", r"unknown user: \"nosuchuser"))
    dsn = d.wait_dsn(SENDER, containing=tok)
    r = dsn.recipient(rcpt)
    assert r.get("status") == "5.1.1", dsn.describe()
    assert r.get("action") == "failed", dsn.describe()
    assert "unknown user" in dsn.raw.decode("utf-8", "replace"), \
        dsn.describe()
    d.wait_queue_empty()
    assert qid not in d.spool_ids()


def test_mailbox_transport_to_dovecot_lmtp(local_delivery, dovecot):
    """mailbox_transport = lmtp:unix:PATH: after the aliases, every
    mailbox goes to Dovecot's LMTP (a user need not be in passwd: Dovecot
    knows its users), and Dovecot's answer is the result: 250 delivered,
    550 5.1.1 bounced with its words."""
    dove = "dove1@" + LOCAL_DOMAIN
    srv = dovecot(users=[dove])
    d = local_delivery()
    d.aliases = {"team": "dove1"}
    d.params["mailbox_transport"] = "lmtp:" + srv.lmtp_unix
    d.start()
    tok = token()
    d.send(dove, make_message(tok, to=dove))
    d.wait_log(agent_log_re(dove, "sent", r"delivered by mailbox_transport "
                            r"lmtp:unix:\S+: 250 2\.0\.0 <%s> \S+ Saved"
                            % re.escape(dove)))
    assert tok.encode() in srv.fetch(dove).encode()
    # Through an alias.
    team = "team@" + LOCAL_DOMAIN
    tok2 = token()
    d.send(team, make_message(tok2, to=team))
    d.wait_log(agent_log_re(team, "sent"))
    wait_until(lambda: tok2 in srv.fetch(dove), 30, 0.2,
               "the alias's message in dove1's mailbox")
    # Unknown to Dovecot: its 550 bounces.
    nobody = "nobody-%s@%s" % (token()[-6:], LOCAL_DOMAIN)
    tok3 = token()
    d.send(nobody, make_message(tok3, to=nobody))
    d.wait_log(agent_log_re(nobody, "bounced", r"refused by "
                            r"mailbox_transport lmtp:unix:\S+: 550 5\.1\.1"))
    dsn = d.wait_dsn(SENDER, containing=tok3)
    r = dsn.recipient(nobody)
    assert r.get("status") == "5.1.1", dsn.describe()
    assert r.get("diagnostic-code", "").startswith("lmtp; 550 5.1.1"), \
        dsn.describe()


def test_fallback_transport_takes_unknown_users(local_delivery, local_users,
                                               dovecot):
    """fallback_transport = lmtp:unix:PATH: a system user keeps the
    local mailbox, a name passwd does not know goes to Dovecot's LMTP
    (which knows it), and one neither knows bounces with Dovecot's 550;
    fallback_transport comes before luser_relay, as in Postfix."""
    dove = "dove2@" + LOCAL_DOMAIN
    srv = dovecot(users=[dove])
    d = local_delivery()
    d.params["fallback_transport"] = "lmtp:" + srv.lmtp_unix
    d.params["luser_relay"] = "never-used@example.invalid"
    d.start()
    tok = token()
    d.send(dove, make_message(tok, to=dove))
    d.wait_log(agent_log_re(dove, "sent", r"delivered by fallback_transport "
                            r"lmtp:unix:\S+: 250 2\.0\.0 <%s> \S+ Saved"
                            % re.escape(dove)))
    assert tok.encode() in srv.fetch(dove).encode()
    tok2 = token()
    d.send(A2, make_message(tok2, to=A2))
    d.wait_file(d.mbox(U2), tok2)
    d.wait_log(agent_log_re(A2, "sent", "delivered to mailbox"))
    nobody = "nobody-%s@%s" % (token()[-6:], LOCAL_DOMAIN)
    tok3 = token()
    d.send(nobody, make_message(tok3, to=nobody))
    d.wait_log(agent_log_re(nobody, "bounced", r"refused by "
                            r"fallback_transport lmtp:unix:\S+: 550 5\.1\.1"))
    d.wait_dsn(SENDER, containing=tok3)
    assert "never-used" not in d.o.log_text()


def test_transport_maps_per_user(local_delivery, local_users, dovecot):
    """mailbox_transport_maps: the system user U1 listed there goes to
    Dovecot's LMTP, U2 (not listed) keeps the local mbox;
    fallback_transport_maps: dove5, unknown to passwd, goes to Dovecot,
    another unknown name bounces (no fallback_transport); a table value
    that is not lmtp:DEST defers with words."""
    srv = dovecot(users=[A1, "dove5@" + LOCAL_DOMAIN])
    d = local_delivery()
    lmtp = "lmtp:" + srv.lmtp_unix
    d.params["mailbox_transport_maps"] = d.table(
        "mbxmaps", {U1: lmtp, "odd": "pipe:whatever"})
    d.params["fallback_transport_maps"] = d.table(
        "fbmaps", {"dove5": lmtp})
    d.start()
    tok = token()
    d.send(A1, make_message(tok, to=A1))
    d.wait_log(agent_log_re(A1, "sent", r"delivered by "
                            r"mailbox_transport_maps lmtp:unix:\S+: 250 "))
    assert tok.encode() in srv.fetch(A1).encode()
    tok2 = token()
    d.send(A2, make_message(tok2, to=A2))
    d.wait_file(d.mbox(U2), tok2)
    dove5 = "dove5@" + LOCAL_DOMAIN
    tok3 = token()
    d.send(dove5, make_message(tok3, to=dove5))
    d.wait_log(agent_log_re(dove5, "sent", r"delivered by "
                            r"fallback_transport_maps lmtp:unix:\S+: 250 "))
    assert tok3.encode() in srv.fetch(dove5).encode()
    nobody = "nobody-%s@%s" % (token()[-6:], LOCAL_DOMAIN)
    d.send(nobody, make_message(token(), to=nobody))
    d.wait_log(agent_log_re(nobody, "bounced", r"unknown user"))
    odd = "odd@" + LOCAL_DOMAIN
    qid = d.send(odd, make_message(token(), to=odd))
    d.wait_log(agent_log_re(odd, "deferred", r"mailbox_transport_maps = "
                            r"pipe:whatever: this version hands mailboxes "
                            r"only to an LMTP server"))
    assert d.spool_has(qid) is not None


def test_mailbox_transport_refused_in_words(local_delivery):
    """A mailbox_transport this version cannot use defers the mail (never
    bounces it, never puts it elsewhere) and says why."""
    d = local_delivery()
    d.params["mailbox_transport"] = "dovecot:whatever"
    d.start()
    tok = token()
    rcpt = "x-%s@%s" % (tok[-6:], LOCAL_DOMAIN)
    qid = d.send(rcpt, make_message(tok, to=rcpt))
    d.wait_log(agent_log_re(rcpt, "deferred", r"mailbox_transport = "
                            r"dovecot:whatever: this version hands "
                            r"mailboxes only to an LMTP server"))
    assert d.spool_has(qid) is not None


def test_verify_probes_to_local(local_delivery, local_users):
    """reject_unverified_recipient for local users: the local agent
    answers a probe from the recipient's expansion (a user, an alias to
    a command) and runs and writes nothing; an unknown user is
    undeliverable with its 5.1.1 words."""
    import smtplib
    d = local_delivery()
    out = os.path.join(d.out, "probed")
    d.aliases = {"robot": "|/usr/bin/tee -a %s" % out}
    d.params["smtpd_recipient_restrictions"] = (
        "reject_unverified_recipient, permit_mynetworks, "
        "reject_unauth_destination")
    d.start()
    robot = "robot@" + LOCAL_DOMAIN
    nobody = "nosuchuser@" + LOCAL_DOMAIN
    replies = {}
    s = smtplib.SMTP("127.0.0.1", d.o.port, local_hostname="client.test",
                     timeout=60)
    try:
        s.ehlo()
        assert s.mail(SENDER)[0] == 250
        for rcpt in (A1, robot, nobody):
            code, text = s.rcpt(rcpt)
            replies[rcpt] = (code, text.decode())
    finally:
        s.quit()
    assert replies[A1][0] == 250, (replies, d.diag())
    assert replies[robot][0] == 250, (replies, d.diag())
    code, text = replies[nobody]
    assert code == 450, (replies, d.diag())
    assert text.startswith("4.1.1 <%s>: Recipient address rejected: "
                           "undeliverable address: unknown user"
                           % nobody), text
    d.wait_log(agent_log_re(robot, "deliverable", "deliverable: 1 local "
                            "destination"))
    d.wait_queue_empty()
    # Nothing ran, nothing was written.
    assert not os.path.exists(out)
    assert not os.path.exists(d.mbox(U1))


def test_alias_forwards_to_other_domains(local_delivery, local_users):
    """An alias that names an address this agent does not deliver (here
    a virtual mailbox of the same server) forwards the message: the
    queue manager queues a copy with the same sender, "Delivered-To:"
    of the alias first, and records the alias as sent, forwarded as the
    new queue ID.  A local user in the same alias still gets its copy."""
    from delivery_e2e import VDOMAIN
    alice = "alice@" + VDOMAIN
    d = local_delivery()
    d.aliases = {"ext": alice, "both": "%s, %s" % (alice, U2)}
    d.start()
    tok = token()
    ext = "ext@" + LOCAL_DOMAIN
    qid = d.send(ext, make_message(tok, to=ext))
    [path] = d.wait_messages(alice, 1, tok)
    data = read_bytes(path)
    head = header_block(data)
    assert ("Delivered-To: %s" % ext).encode() in head, head
    assert ("Return-Path: <%s>" % SENDER).encode() in head, head
    # The forwarding is a hop: its trace field, then its Delivered-To.
    trace = [i for i, l in enumerate(head) if re.fullmatch(
        rb"Received: by mx\.ostia\.test \(Ostia\) id \w{16}; .+", l)]
    assert len(trace) == 1 and head[trace[0] + 1] == \
        ("Delivered-To: %s" % ext).encode(), head
    line = d.wait_log(r"ostia/queue\[\d+\]: %s: forwarded <%s> to 1 "
                      r"address \(%s\): (\w{16})" % (qid, re.escape(ext),
                                                    re.escape(alice)))
    new = line.group(1)
    assert new != qid
    d.wait_log(r"ostia/queue\[\d+\]: %s: to=<%s>, relay=local, .*"
               r"status=sent \(forwarded to %s; forwarded as %s\)"
               % (qid, re.escape(ext), re.escape(alice), new))
    d.wait_log(agent_log_re(alice, "sent"))
    # A local user and a forward in one alias.
    tok2 = token()
    both = "both@" + LOCAL_DOMAIN
    d.send(both, make_message(tok2, to=both))
    d.wait_file(d.mbox(U2), tok2)
    d.wait_messages(alice, 1, tok2)
    d.wait_queue_empty()
    assert not d.messages(SENDER), "no notice is due"


def test_prepend_delivered_header(local_delivery, local_users):
    """prepend_delivered_header = file: a command run from an alias and a
    forwarded copy get no Delivered-To: (the mailbox of a user always
    has one), a file does; an unknown word is named in a warning."""
    from delivery_e2e import VDOMAIN
    alice = "alice@" + VDOMAIN
    d = local_delivery()
    cmd_out = os.path.join(d.out, "piped")
    d.aliases = {"robot": "|/usr/bin/tee -a %s" % cmd_out,
                 "keeper": os.path.join(d.out, "kept"),
                 "ext": alice}
    d.params["prepend_delivered_header"] = "file, nonsense"
    d.start()
    tok = token()
    robot, keeper, ext = ("%s@%s" % (n, LOCAL_DOMAIN)
                          for n in ("robot", "keeper", "ext"))
    d.send([robot, keeper, ext, A1], make_message(tok, to=robot))
    piped = d.wait_file(cmd_out, tok)
    assert not any(l.startswith(b"Delivered-To:")
                   for l in header_block(piped)), piped[:400]
    kept = d.wait_file(os.path.join(d.out, "kept"), tok)
    assert ("\nDelivered-To: %s\n" % keeper).encode() in kept, kept[:400]
    [path] = d.wait_messages(alice, 1, tok)
    head = header_block(read_bytes(path))
    assert ("Delivered-To: %s" % ext).encode() not in head, head
    assert any(l.startswith(b"Received: by mx.ostia.test (Ostia) id ")
               for l in head), head
    mbox = d.wait_file(d.mbox(U1), tok)
    assert ("\nDelivered-To: %s\n" % A1).encode() in mbox, mbox[:400]
    d.wait_log(r'prepend_delivered_header: "nonsense" is not one of '
               r'command, file, forward; ignored')
    d.wait_queue_empty()


def test_success_notices_through_aliases(local_delivery, local_users):
    """NOTIFY=SUCCESS on an alias (RFC 3461 6.2.7): an alias with one
    destination elsewhere passes the request on -- the one notice is
    the forwarded copy's, "delivered" for the final address with the
    alias as Original-Recipient; an alias with several destinations is
    "expanded" in one notice, and its forwarded copy no longer asks for
    one, so the sender gets no second notice for it."""
    from delivery_e2e import VDOMAIN, Dsn, check_dsn_structure, settle
    alice = "alice@" + VDOMAIN
    d = local_delivery()
    d.aliases = {"ext": alice, "both": "%s, %s" % (alice, U2)}
    d.start()
    def only_notice(tok, rcpt):
        """The one notice about tok, with one recipient block, rcpt's
        (a second notice would come within a queue run or two)."""
        d.wait_messages(SENDER, 1, tok)
        d.wait_queue_empty()
        settle(2)
        paths = [p for p in d.messages(SENDER) if tok.encode() in
                 read_bytes(p)]
        assert len(paths) == 1, "%d notices:\n%s" % (len(paths), d.diag())
        dsn = Dsn(read_bytes(paths[0]), paths[0])
        check_dsn_structure(dsn)
        assert len(dsn.per_recipient) == 1, dsn.describe()
        return dsn, dsn.recipient(rcpt)

    ext = "ext@" + LOCAL_DOMAIN
    tok = token()
    d.send(ext, make_message(tok, to=ext),
           rcpt_opts={ext: ["NOTIFY=SUCCESS"]})
    d.wait_messages(alice, 1, tok)
    dsn, r = only_notice(tok, alice)
    assert r.get("action") == "delivered", dsn.describe()
    assert re.sub(r"\s", "", r.get("original-recipient", "")).lower() \
        == "rfc822;" + ext.lower(), dsn.describe()

    both = "both@" + LOCAL_DOMAIN
    tok2 = token()
    d.send(both, make_message(tok2, to=both),
           rcpt_opts={both: ["NOTIFY=SUCCESS,FAILURE"]})
    d.wait_file(d.mbox(U2), tok2)
    d.wait_messages(alice, 1, tok2)
    dsn, r = only_notice(tok2, both)
    assert r.get("action") == "expanded", dsn.describe()
    assert r.get("status", "").startswith("2."), dsn.describe()


def test_alias_forwarding_loop_bounces(local_delivery, local_users):
    """loopy -> back@VDOMAIN (alias), back@VDOMAIN -> loopy (virtual
    alias): the forwarded copy comes back with "Delivered-To: loopy...",
    and the local agent bounces it (5.4.6) instead of forwarding for
    ever."""
    from delivery_e2e import VDOMAIN
    d = local_delivery()
    loopy = "loopy@" + LOCAL_DOMAIN
    back = "back@" + VDOMAIN
    d.aliases = {"loopy": back}
    d.valiases[back] = loopy
    d.start()
    tok = token()
    d.send(loopy, make_message(tok, to=loopy))
    d.wait_log(agent_log_re(loopy, "bounced", r"mail forwarding loop "
                            r"for %s" % re.escape(loopy)))
    dsn = d.wait_dsn(SENDER, containing=tok)
    assert dsn.recipient(loopy).get("status") == "5.4.6", dsn.describe()
    d.wait_queue_empty()
    forwards = re.findall(r"forwarded <%s>" % re.escape(loopy),
                          d.o.log_text())
    assert len(forwards) == 1, forwards


def test_luser_relay_takes_unknown_users(local_delivery, local_users):
    """luser_relay = $user@VDOMAIN: mail for an unknown local user goes
    to the same name in the virtual domain ($user expanded per
    recipient), forwarded like an alias; a known user is not touched,
    and a name the relay target does not know either bounces there."""
    from delivery_e2e import VDOMAIN
    d = local_delivery()
    d.params["luser_relay"] = "$user@" + VDOMAIN
    d.params["recipient_delimiter"] = "+"
    d.start()
    tok = token()
    lost = "bob+misc@" + LOCAL_DOMAIN       # no system user bob
    d.send(lost, make_message(tok, to=lost))
    [path] = d.wait_messages("bob@" + VDOMAIN, 1, tok)
    assert ("Delivered-To: %s" % lost).encode() in \
        header_block(read_bytes(path))
    d.wait_log(agent_log_re(lost, "sent", r"forwarded to bob@%s"
                            % re.escape(VDOMAIN)))
    # A real user still gets its own mail.
    tok2 = token()
    d.send(A2, make_message(tok2, to=A2))
    d.wait_file(d.mbox(U2), tok2)
    # Unknown here and there: the virtual agent bounces it.
    nobody = "zed-%s@%s" % (tok[-5:], LOCAL_DOMAIN)
    tok3 = token()
    d.send(nobody, make_message(tok3, to=nobody))
    dsn = d.wait_dsn(SENDER, containing=tok3)
    there = "zed-%s@%s" % (tok[-5:], VDOMAIN)
    assert dsn.recipient(there).get("action") == "failed", dsn.describe()
    d.wait_queue_empty()


def test_luser_relay_error_defers(local_delivery):
    """A luser_relay that does not expand defers the mail with the
    reason (a configuration error loses and bounces nothing)."""
    d = local_delivery()
    d.params["luser_relay"] = "${home}@elsewhere.test"
    d.start()
    rcpt = "nosuch@" + LOCAL_DOMAIN
    qid = d.send(rcpt, make_message(token(), to=rcpt))
    d.wait_log(agent_log_re(rcpt, "deferred", r"luser_relay = "
                            r"\$\{home\}@elsewhere\.test: an unknown "
                            r"\$name"))
    assert qid in d.spool_ids()
    assert not d.messages(SENDER)


def test_dot_forward(local_delivery, local_users, dot_forward):
    """~/.forward (Postfix's default forward_path): read as the user
    (the home is 0700, closed to mail_owner); "\\user" keeps a copy in
    the user's own mailbox, an address elsewhere is forwarded, and a
    command runs as the user, in the home directory.  With an extension,
    .forward+EXT comes first.  A world-writable .forward is ignored with
    a warning, and the mail goes to the mailbox."""
    from delivery_e2e import VDOMAIN
    alice = "alice@" + VDOMAIN
    d = local_delivery()
    d.params["recipient_delimiter"] = "+"
    d.start()
    out = os.path.join(d.out, "fwd-cmd")
    pwd_dir = os.path.join(d.out, "fwd-pwd")
    dot_forward(U1, "# mine\n\\%s, %s\n\"|/usr/bin/tee -a %s\"\n"
                "|/usr/bin/touch %s\n" % (U1, alice, out, pwd_dir))
    dot_forward(U1, "%s\n" % U2, name=".forward+lists")
    home = local_users[U1].pw_dir
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    tok = token()
    qid = d.send(A1, make_message(tok, to=A1))
    d.wait_file(d.mbox(U1), tok)
    data = d.wait_file(out, tok)
    assert ("\nDelivered-To: %s\n" % A1).encode() in data, data[:400]
    assert os.stat(out).st_uid == local_users[U1].pw_uid, \
        "the .forward's command ran as uid %d" % os.stat(out).st_uid
    [path] = d.wait_messages(alice, 1, tok)
    assert ("Delivered-To: %s" % A1).encode() in \
        header_block(read_bytes(path))
    d.wait_log(r"ostia/queue\[\d+\]: %s: to=<%s>, relay=local, .*"
               r"status=sent \(delivered to 4 destinations: .*forwarded "
               r"to %s" % (qid, re.escape(A1), re.escape(alice)))
    # The extension's own file: to U2 only.
    tok2 = token()
    ext = "%s+lists@%s" % (U1, LOCAL_DOMAIN)
    d.send(ext, make_message(tok2, to=ext))
    d.wait_file(d.mbox(U2), tok2)
    d.wait_log(agent_log_re(ext, "sent", "delivered to mailbox"))
    assert tok2.encode() not in read_bytes(d.mbox(U1))
    # World-writable: ignored, said in the log, the mailbox gets it.
    dot_forward(U2, "%s\n" % alice, mode=0o666)
    tok3 = token()
    d.send(A2, make_message(tok3, to=A2))
    d.wait_file(d.mbox(U2), tok3)
    d.wait_log(r"warning: \w+: to=<%s>: %s ignored: .*world-writable"
               % (re.escape(A2), re.escape(os.path.join(
                   local_users[U2].pw_dir, ".forward"))))
    d.wait_queue_empty()
    assert not [m for m in d.messages(alice)
                if tok3.encode() in read_bytes(m)]


def test_dot_forward_off_and_restricted(local_delivery, local_users,
                                        dot_forward):
    """forward_path empty: no .forward is read.  allow_mail_to_commands
    without "forward": the .forward's command bounces with the reason,
    and its other destination is still delivered."""
    d = local_delivery()
    d.params["allow_mail_to_commands"] = "alias"
    d.start()
    out = os.path.join(d.out, "never")
    dot_forward(U1, "\\%s, |/usr/bin/tee -a %s\n" % (U1, out))
    tok = token()
    d.send(A1, make_message(tok, to=A1))
    d.wait_file(d.mbox(U1), tok)
    d.wait_log(agent_log_re(A1, "bounced", r"mail to command is restricted "
                            r"\(allow_mail_to_commands has no forward\)"))
    assert not os.path.exists(out)
    d.wait_dsn(SENDER, containing=tok)
    d.o.stop()
    d2 = local_delivery()
    d2.params["forward_path"] = ""
    d2.start()
    tok2 = token()
    d2.send(A1, make_message(tok2, to=A1))
    d2.wait_file(d2.mbox(U1), tok2)
    d2.wait_log(agent_log_re(A1, "sent", "delivered to mailbox"))
