# SPDX-License-Identifier: MIT
"""sendmail -bs: SMTP on the command's standard input and output.

PHP mailers and Symfony Mailer run `sendmail -bs` and speak SMTP to it
instead of connecting to port 25.  Real clients drive it here: Python's
smtplib over a socket pair that is the command's standard input and
output, and swaks with --pipe.  Each message is queued as -bm queues
one (the maildrop, pickup) and reaches the mailbox; MAIL FROM is kept
for root and mail_owner and replaced by login@$myorigin for anybody
else (said in the reply); DSN parameters come back in the notices; a
message over message_size_limit is refused at its end with nothing
queued while the session goes on; a user authorized_submit_users
refuses is greeted with 554.
"""

import os
import pwd
import re
import shutil
import smtplib
import socket
import subprocess

import pytest

from delivery_e2e import SENDER, QUEUE_ID, read_bytes, token
from test_sendmail import (ALICE, BOB, PLAIN_USER, ROOT, headers,
                           make_setgid, plain_user)


class BsSession:
    """`sendmail -bs` as a child with a socket pair for its standard
    input and output; smtplib talks to the other end."""

    def __init__(self, bindir, d, user=None):
        a, b = socket.socketpair()
        kw = {}
        if user is not None:
            pw = pwd.getpwnam(user)
            kw = {"user": pw.pw_uid, "group": pw.pw_gid,
                  "extra_groups": []}
        self.proc = subprocess.Popen(
            [os.path.join(bindir, "sendmail"), "-C", d.o.confdir, "-bs"],
            stdin=b.fileno(), stdout=b.fileno(), stderr=subprocess.PIPE,
            cwd="/", env={"PATH": "/usr/bin:/bin"}, **kw)
        b.close()
        a.settimeout(60)
        self.smtp = smtplib.SMTP()
        self.smtp.sock = a
        self.smtp.file = None
        self.greeting = self.smtp.getreply()

    def finish(self):
        try:
            self.smtp.quit()
        except smtplib.SMTPServerDisconnected:
            pass
        self.smtp.close()
        err = self.proc.stderr.read()
        self.proc.stderr.close()
        rc = self.proc.wait(timeout=60)
        return rc, err


def delivered(d, rcpt, tok):
    [path] = d.wait_messages(rcpt, 1, containing=tok)
    return read_bytes(path)


def test_smtplib_session_two_messages_dsn(delivery, bindir):
    d = delivery().start()
    s = BsSession(bindir, d)
    assert s.greeting[0] == 220 and b"ESMTP" in s.greeting[1], s.greeting
    code, text = s.smtp.ehlo("app.example")
    assert code == 250
    for ext in ("pipelining", "size", "8bitmime", "enhancedstatuscodes",
                "dsn"):
        assert s.smtp.has_extn(ext), text
    tok1, tok2 = token(), token()
    envid = "env-" + tok1
    msg1 = ("From: App <%s>\r\nTo: %s\r\nSubject: %s\r\n\r\n"
            ".a line that starts with a dot\r\nend\r\n"
            % (SENDER, ALICE, tok1))
    refused = s.smtp.sendmail(
        SENDER, [ALICE], msg1, mail_options=["RET=HDRS", "ENVID=" + envid],
        rcpt_options=["NOTIFY=SUCCESS", "ORCPT=rfc822;orig@example.org"])
    assert refused == {}
    # A second message in the same session, to two recipients.
    msg2 = "Subject: %s\r\n\r\nsecond\r\n" % tok2
    assert s.smtp.sendmail(SENDER, [ALICE, BOB], msg2) == {}
    rc, err = s.finish()
    assert rc == 0, (rc, err)

    data = delivered(d, ALICE, tok1)
    # Root may choose the sender: MAIL FROM is the envelope sender.
    assert data.startswith(("Return-Path: <%s>" % SENDER).encode()), \
        data[:200]
    # The dot-stuffing is undone.
    assert b"\n.a line that starts with a dot\n" in data, data
    h = headers(data)
    assert "message-id" in h and "date" in h, h
    # NOTIFY=SUCCESS, ORCPT and ENVID come back in the success notice.
    dsn = d.wait_dsn(SENDER, containing=tok1)
    assert dsn.per_message.get("original-envelope-id") == envid, \
        dsn.describe()
    rx = dsn.recipient(ALICE)
    assert rx.get("action") == "delivered", dsn.describe()
    assert rx.get("original-recipient", "").split(";", 1)[-1].strip() \
        == "orig@example.org", dsn.describe()
    # The second message reached both mailboxes, once each.
    delivered(d, ALICE, tok2)
    delivered(d, BOB, tok2)
    assert len(d.wait_messages(ALICE, 1, containing=tok2)) == 1


def test_swaks_pipe(delivery, bindir):
    if shutil.which("swaks") is None:
        pytest.skip("swaks is not installed")
    d = delivery().start()
    tok = token()
    cmd = "%s -C %s -bs" % (os.path.join(bindir, "sendmail"), d.o.confdir)
    r = subprocess.run(["swaks", "--pipe", cmd, "--from", SENDER, "--to",
                        ALICE, "--header",
                        "Subject: %s" % tok, "--body", "via swaks --pipe"],
                       capture_output=True, timeout=120)
    out = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0, out + r.stderr.decode()
    m = re.search(r"<-\s+250 2\.0\.0 Ok: queued as (%s)" % QUEUE_ID, out)
    assert m, out
    data = delivered(d, ALICE, tok)
    assert b"via swaks --pipe" in data
    d.wait_log(r"ostia/queue\[\d+\]: %s: uid=\d+ from=<%s>$"
               % (m.group(1), re.escape(SENDER)))


def test_size_limit_and_errors(delivery, bindir):
    d = delivery()
    d.params["message_size_limit"] = "3000"
    d.start()
    s = BsSession(bindir, d)
    s.smtp.ehlo("app.example")
    assert "SIZE 3000" in s.smtp.ehlo_resp.decode(), s.smtp.ehlo_resp
    # Out of order, unknown, unavailable: clear replies.
    assert s.smtp.docmd("RCPT", "TO:<%s>" % ALICE)[0] == 503
    assert s.smtp.docmd("STARTTLS")[0] == 502
    big_tok, tok = token(), token()
    big = ("Subject: %s\r\n\r\n" % big_tok) + ("x" * 70 + "\r\n") * 60
    # Without SIZE=: refused once the text is in, at its end.
    assert s.smtp.mail(SENDER)[0] == 250
    assert s.smtp.rcpt(ALICE)[0] == 250
    code, text = s.smtp.data(big.encode())
    assert code == 552 and b"limit of 3000 bytes" in text, (code, text)
    # With SIZE= (smtplib sends it): refused at MAIL.
    with pytest.raises(smtplib.SMTPSenderRefused) as e2:
        s.smtp.sendmail(SENDER, [ALICE], big)
    assert e2.value.smtp_code == 552
    # The session goes on.
    assert s.smtp.sendmail(SENDER, [ALICE],
                           "Subject: %s\r\n\r\nsmall\r\n" % tok) == {}
    rc, err = s.finish()
    assert rc == 0, err
    delivered(d, ALICE, tok)
    assert [p for p in d.messages(ALICE)
            if big_tok.encode() in read_bytes(p)] == []


@pytest.mark.skipif(not ROOT, reason="needs root to run as another user "
                    "and to install the set-group-ID helper")
def test_ordinary_user_sender_is_the_login(delivery, bindir):
    plain_user()
    d = delivery().start()
    make_setgid(bindir)
    s = BsSession(bindir, d, user=PLAIN_USER)
    s.smtp.ehlo("app.example")
    code, text = s.smtp.mail(SENDER)
    sender = "%s@%s" % (PLAIN_USER, d.o.get_param("myorigin"))
    assert code == 250 and ("the sender will be <%s>" % sender).encode() \
        in text, (code, text)
    assert s.smtp.rcpt(ALICE)[0] == 250
    tok = token()
    code, text = s.smtp.data(("Subject: %s\r\n\r\nfrom nobody\r\n"
                              % tok).encode())
    assert code == 250 and re.match(rb"2\.0\.0 Ok: queued as ", text), text
    rc, err = s.finish()
    assert rc == 0, err
    data = delivered(d, ALICE, tok)
    assert data.startswith(("Return-Path: <%s>" % sender).encode()), \
        data[:200]


@pytest.mark.skipif(not ROOT, reason="needs root to run as another user")
def test_refused_user_gets_554(delivery, bindir):
    plain_user()
    d = delivery()
    d.params["authorized_submit_users"] = "!%s, static:anyone" % PLAIN_USER
    d.start()
    make_setgid(bindir)
    s = BsSession(bindir, d, user=PLAIN_USER)
    assert s.greeting[0] == 554, s.greeting
    assert b"may not submit mail" in s.greeting[1], s.greeting
    assert s.smtp.docmd("MAIL", "FROM:<%s>" % SENDER)[0] == 554
    rc, err = s.finish()
    assert rc == 77, (rc, err)
    assert os.listdir(os.path.join(d.o.queue_dir, "maildrop")) == []
