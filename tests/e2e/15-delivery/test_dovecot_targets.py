# SPDX-License-Identifier: MIT
"""Dovecot as the delivery target: its LMTP server (UNIX socket and TCP)
through Ostia's lmtp agent, and its LDA through the seed's `dovecot`
pipe service (flags=DRhu user=... argv=dovecot-lda -f ${sender} -d
${user}@${domain}, dovecot_destination_recipient_limit = 1).

Each test starts a private Dovecot (dovecot_server.DovecotMail: passwd-file
userdb, Maildirs in its own directory) and checks with doveadm that the
message arrived.  An address Dovecot does not know is refused (LMTP 550
5.1.1, LDA exit 67 EX_NOUSER): the sender, a local mailbox, gets a
bounce that names the recipient and Dovecot's reply.
"""

import os
import re
import shutil
import smtplib
import tempfile

import pytest

from delivery_e2e import (LMTP_DOMAIN, PIPE_DOMAIN, SENDER, agent_log_re,
                          check_dsn_structure, make_message, read_bytes,
                          token)
from ostia_harness import wait_until

ALICE = "alice@" + LMTP_DOMAIN
BOB = "bob@" + LMTP_DOMAIN
NOBODY = "nobody@" + LMTP_DOMAIN


def wait_dovecot(dv, address, tok, d):
    """Wait until doveadm finds tok in address's mailbox; return the
    message file's bytes."""
    def found():
        for p in dv.message_files(address):
            try:
                data = read_bytes(p)
            except FileNotFoundError:
                continue
            if tok.encode() in data:
                return data
        return None
    try:
        return wait_until(found, 30, 0.1, "a message with %s for %s in "
                          "Dovecot's Maildir" % (tok, address))
    except AssertionError as e:
        raise AssertionError("%s\n--- Dovecot log ---\n%s\n"
                             "--- Dovecot LDA log ---\n%s\n%s"
                             % (e, dv.log_text()[-4000:],
                                dv.lda_log_text()[-4000:],
                                d.diag())) from None


@pytest.mark.parametrize("form", ["unix", "inet"])
def test_lmtp_to_dovecot(delivery, dovecot, form):
    dv = dovecot(users=[ALICE, BOB])
    d = delivery()
    d.route(LMTP_DOMAIN, "lmtp:" + (dv.lmtp_unix if form == "unix"
                                    else dv.lmtp_inet))
    d.start()
    tok = token()
    d.send([ALICE, BOB], make_message(tok, to=ALICE, eightbit=True),
           mail_opts=["BODY=8BITMIME"])
    for rcpt in (ALICE, BOB):
        wait_dovecot(dv, rcpt, tok, d)
        out = dv.fetch(rcpt, "hdr body")
        assert "Subject: delivery test %s" % tok in out, out
        assert "Grüße aus Köln" in out, out
        assert "Return-Path: <%s>" % SENDER in out, out
        d.wait_log(agent_log_re(rcpt, "sent"))
    d.wait_queue_empty()
    for rcpt in (ALICE, BOB):
        assert len(dv.search(rcpt)) == 1, "%s: %r" % (rcpt, dv.search(rcpt))
    assert not d.messages(SENDER), "unexpected notice to the sender"


def test_lmtp_unknown_user_bounces(delivery, dovecot):
    dv = dovecot(users=[ALICE])
    d = delivery()
    d.route(LMTP_DOMAIN, "lmtp:" + dv.lmtp_unix)
    d.start()
    tok = token()
    d.send([ALICE, NOBODY], make_message(tok, to=ALICE))
    wait_dovecot(dv, ALICE, tok, d)
    d.wait_log(agent_log_re(NOBODY, "bounced", r"[^)]*550"))
    dsn = d.wait_dsn(SENDER, tok)
    check_dsn_structure(dsn)
    r = dsn.recipient(NOBODY)
    assert r.get("action") == "failed", dsn.describe()
    assert r.get("status") == "5.1.1", dsn.describe()
    diag = r.get("diagnostic-code", "")
    assert re.match(r"\w+; *550 5\.1\.1 ", diag), \
        "Diagnostic-Code should carry Dovecot's reply: %r\n%s" % (
            diag, dsn.describe())
    assert len(dsn.per_recipient) == 1, \
        "only the failed recipient belongs in the bounce:\n" + dsn.describe()
    d.wait_queue_empty()


def test_pipe_to_dovecot_lda(delivery, dovecot):
    from dovecot_server import DovecotMail
    DovecotMail.require_lda()
    alice, bob, carol = ("%s@%s" % (u, PIPE_DOMAIN)
                         for u in ("alice", "bob", "carol"))
    dv = dovecot(users=[alice, bob, carol])
    d = delivery(lda=dv)
    d.start()
    tok = token()
    # flags=hu: the LDA gets -d carol@pipe.test for Carol@PIPE.test.
    mixed = "Carol@" + PIPE_DOMAIN.upper()
    d.send([alice, bob, mixed], make_message(tok, to=alice, eightbit=True),
           mail_opts=["BODY=8BITMIME"])
    for rcpt in (alice, bob, carol):
        data = wait_dovecot(dv, rcpt, tok, d)
        # flags=DR: the pipe agent prepends Delivered-To: and Return-Path:
        assert re.search(rb"^Return-Path: <%s>" % re.escape(SENDER.encode()),
                         data, re.M | re.I), data[:600]
        assert re.search(rb"^Delivered-To: <?%s>?\r?$"
                         % re.escape(rcpt.encode()), data,
                         re.M | re.I), data[:600]
        assert "Grüße aus Köln".encode() in data
        out = dv.fetch(rcpt, "hdr body")
        assert "Subject: delivery test %s" % tok in out, out
    for rcpt in (alice, bob):
        d.wait_log(agent_log_re(rcpt, "sent"))
    d.wait_log("(?i)" + agent_log_re(mixed, "sent"))
    d.wait_queue_empty()
    for rcpt in (alice, bob, carol):
        assert len(dv.search(rcpt)) == 1, "%s: %r" % (rcpt, dv.search(rcpt))
    saved = dv.lda_log_text().count("saved mail to INBOX")
    assert saved == 3, "the LDA should have run once per recipient " \
        "(dovecot_destination_recipient_limit = 1):\n" + dv.lda_log_text()


def test_pipe_lda_unknown_user_bounces(delivery, dovecot):
    from dovecot_server import DovecotMail
    DovecotMail.require_lda()
    alice = "alice@" + PIPE_DOMAIN
    nobody = "nobody@" + PIPE_DOMAIN
    dv = dovecot(users=[alice])
    d = delivery(lda=dv)
    d.start()
    tok = token()
    d.send([alice, nobody], make_message(tok, to=alice))
    wait_dovecot(dv, alice, tok, d)
    d.wait_log(agent_log_re(nobody, "bounced"))
    dsn = d.wait_dsn(SENDER, tok)
    check_dsn_structure(dsn)
    r = dsn.recipient(nobody)
    assert r.get("action") == "failed", dsn.describe()
    # EX_NOUSER (67) -> 5.1.1
    assert r.get("status") == "5.1.1", dsn.describe()
    d.wait_queue_empty()


def _dovecot_tls(dovecot, users):
    """A Dovecot whose LMTP offers STARTTLS with a certificate for
    lmtp.test and 127.0.0.1 from a throwaway CA; returns (dv, ca).  The
    CA lives where the lmtp agent (mail_owner) can read it, as
    /etc/ssl is in production; the caller removes its directory."""
    from ostia_harness import make_ca
    d = tempfile.mkdtemp(prefix="ostia-lmtp-ca-", dir="/tmp")
    os.chmod(d, 0o755)
    ca = make_ca(os.path.join(d, "ca"), name="Ostia LMTP CA")
    os.chmod(ca.dir, 0o755)
    cert, key, chain = ca.issue("lmtp.test", sans=["lmtp.test", "127.0.0.1"])
    os.chmod(ca.ca_cert, 0o644)
    dv = dovecot(users=users, extra_config="ssl = yes\nssl_cert = <%s\n"
                 "ssl_key = <%s\n" % (chain, key))
    return dv, ca


def test_lmtp_tls_verified_to_dovecot(delivery, dovecot):
    """lmtp_tls_security_level = verify over TCP: STARTTLS to Dovecot,
    its certificate chains to lmtp_tls_CAfile and names 127.0.0.1 (the
    destination); delivered, "Verified" in the log."""
    dv, ca = _dovecot_tls(dovecot, [ALICE])
    d = delivery()
    d.route(LMTP_DOMAIN, "lmtp:" + dv.lmtp_inet)
    d.params.update({"lmtp_tls_security_level": "verify",
                     "lmtp_tls_CAfile": ca.ca_cert,
                     "lmtp_tls_loglevel": "1"})
    d.start()
    tok = token()
    d.send([ALICE], make_message(tok, to=ALICE))
    try:
        wait_dovecot(dv, ALICE, tok, d)
        d.wait_log(r"Verified TLS connection established to LMTP server "
                   r"inet:127\.0\.0\.1:%d: TLSv1\.[23] with cipher "
                   % dv.lmtp_port)
        d.wait_queue_empty()
    finally:
        shutil.rmtree(os.path.dirname(ca.dir), ignore_errors=True)


def test_lmtp_tls_encrypt_without_starttls_defers(delivery, dovecot):
    """lmtp_tls_security_level = encrypt and a Dovecot without TLS: the
    mail waits, with words; never sent in plaintext.  A UNIX-domain
    destination ignores the level."""
    dv = dovecot(users=[ALICE, BOB])
    d = delivery()
    d.route(LMTP_DOMAIN, "lmtp:" + dv.lmtp_inet)
    d.route(BOB, "lmtp:" + dv.lmtp_unix)     # transport_maps: the address
    d.params["lmtp_tls_security_level"] = "encrypt"
    d.start()
    tok = token()
    d.send([ALICE, BOB], make_message(tok, to=ALICE))
    wait_dovecot(dv, BOB, tok, d)
    d.wait_log(agent_log_re(ALICE, "deferred", r"[^)]*does not offer "
                            r"STARTTLS[^)]*encrypt"))
    assert not dv.search(ALICE), "delivered without TLS"


def _rcpt_reply(d, rcpt):
    """MAIL and RCPT (rcpt) in a session of their own; the RCPT reply."""
    s = smtplib.SMTP("127.0.0.1", d.o.port, local_hostname="client.test",
                     timeout=60)
    try:
        s.ehlo()
        code, resp = s.mail(SENDER)
        assert code == 250, (code, resp, d.diag())
        code, resp = s.rcpt(rcpt)
        return code, resp.decode("utf-8", "replace")
    finally:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            s.close()


def test_verify_probes_to_dovecot(delivery, dovecot):
    """reject_unverified_recipient for domains delivered by Dovecot's
    LMTP and by its LDA through pipe: the lmtp agent's probe stops after
    RCPT (Dovecot's 550 5.1.1 for an unknown user is the answer, a known
    one gets nothing); the pipe agent cannot ask its command and answers
    deliverable without running it."""
    from dovecot_server import DovecotMail
    DovecotMail.require_lda()
    pipe_alice = "alice@" + PIPE_DOMAIN
    dv = dovecot(users=[ALICE, pipe_alice])
    d = delivery(lda=dv)
    d.route(LMTP_DOMAIN, "lmtp:" + dv.lmtp_unix)
    d.params["smtpd_recipient_restrictions"] = (
        "reject_unverified_recipient, permit_mynetworks, "
        "reject_unauth_destination")
    d.start()
    code, text = _rcpt_reply(d, ALICE)
    assert code == 250, (code, text, d.diag())
    code, text = _rcpt_reply(d, NOBODY)
    assert code == 450, (code, text, d.diag())
    assert re.match(r"4\.1\.1 <%s>: Recipient address rejected: "
                    r"undeliverable address: .*550 5\.1\.1 .*\(in reply to "
                    r"RCPT TO command\)" % re.escape(NOBODY), text), text
    code, text = _rcpt_reply(d, pipe_alice)
    assert code == 250, (code, text, d.diag())
    d.wait_log(r"to=<%s>, relay=dovecot.*status=deliverable \(deliverable: "
               r"the dovecot service takes every recipient"
               % re.escape(pipe_alice))
    d.wait_queue_empty()
    # Nothing was delivered, by LMTP or by the LDA.
    assert dv.search(ALICE) == [], dv.search(ALICE)
    assert dv.search(pipe_alice) == [], dv.search(pipe_alice)
    assert "saved mail to" not in dv.lda_log_text(), dv.lda_log_text()
    assert not d.messages(SENDER), "a probe made a notice"
