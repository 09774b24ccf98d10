# SPDX-License-Identifier: MIT
"""non_smtpd_milters: mail submitted with the sendmail command goes
through the filters in pickup, as if from "localhost" [127.0.0.1],
before it is queued; then it is delivered to a Maildir.  The same
pymilter filter as test_milter.py (tests/e2e/milter_server.py)."""

import os
import re
import subprocess

import pytest

from delivery_e2e import (SENDER, VDOMAIN, check_dsn_structure, read_bytes,
                          token)
from ostia_harness import free_port, wait_until
from test_milter import Filter, have_pymilter

ALICE = "alice@" + VDOMAIN
BOB = "bob@" + VDOMAIN


def sendmail(d, rcpts, subject, body="Hello.\n", sender=None):
    """`ostia sendmail` as root (trusted: writes the maildrop itself;
    -f sender when given)."""
    msg = "From: root\nTo: %s\nSubject: %s\n\n%s" % (
        ", ".join(rcpts), subject, body)
    opts = ["-f", sender] if sender is not None else []
    r = subprocess.run([d.o.binary, "-c", d.o.confdir, "sendmail"] + opts +
                       rcpts, input=msg.encode(), capture_output=True,
                       timeout=60)
    assert r.returncode == 0, r
    return r


def maildrop_empty(d):
    return not os.listdir(os.path.join(d.o.queue_dir, "maildrop"))


def test_sendmail_mail_goes_through_the_filters(delivery, milter):
    d = delivery()
    d.params["non_smtpd_milters"] = "inet:127.0.0.1:%d" % milter.port
    d.start()
    tok = token()
    sendmail(d, [ALICE, BOB], "edit-headers " + tok)
    # pymilter saw a local submission: localhost, MAIL, both RCPTs.
    ev = wait_until(lambda: [e for e in milter.events()
                             if e["event"] == "eom"] and milter.events(),
                    what="the filter's end of message")
    kinds = [e["event"] for e in ev]
    assert kinds[:2] == ["connect", "helo"], kinds
    assert ev[0]["addr"] == "127.0.0.1"
    assert [e["rcpt"] for e in ev if e["event"] == "rcpt"] == \
        ["<%s>" % ALICE, "<%s>" % BOB]
    # Subject is "edit-headers TOKEN": the filter adds its headers only
    # for "edit-headers" exactly, so it shows what it got.
    subj = [e["value"] for e in ev if e["event"] == "header"
            and e["name"] == "Subject"]
    assert subj == ["edit-headers " + tok]
    # pickup's Received: (which names the queue ID) is not shown.
    assert "Received" not in [e["name"] for e in ev
                              if e["event"] == "header"]
    [path] = d.wait_messages(ALICE, 1, containing=tok)
    assert b"Subject: edit-headers " + tok.encode() in read_bytes(path)


def test_sendmail_mail_edited_refused_and_tempfailed(delivery, milter):
    d = delivery()
    d.params["non_smtpd_milters"] = "inet:127.0.0.1:%d" % milter.port
    d.start()
    mark = d.o.log_mark()
    # Edited: the headers the filter adds reach the mailbox.
    sendmail(d, [ALICE], "edit-headers")
    [path] = d.wait_messages(ALICE, 1, containing="X-Milter-Added")
    data = read_bytes(path)
    assert b"X-Milter-First: top" in data
    assert b"Subject: changed by the filter" in data
    # Refused at the end of the message: the command has long returned,
    # so the message goes back to its sender with the filter's reason
    # (as Postfix's cleanup does), and the log says so.
    tok = token()
    sendmail(d, [BOB], "reject", body="%s\n" % tok, sender=SENDER)
    dsn = d.wait_dsn(SENDER, containing=tok)
    check_dsn_structure(dsn)
    r = dsn.recipient(BOB)
    assert r.get("action") == "failed" and r.get("status") == "5.7.1", \
        dsn.describe()
    assert "Message content rejected" in r.get("diagnostic-code", ""), \
        dsn.describe()
    wait_until(lambda: re.search(
        r"milter-reject: END-OF-MESSAGE from local; from=<%s>: 5\.7\.1 "
        r"Message content rejected; returned to the sender"
        % re.escape(SENDER), d.o.log_text()[mark:]),
        what="the refusal logged")
    wait_until(lambda: maildrop_empty(d), what="the maildrop file removed")
    d.wait_queue_empty()
    assert not any(tok.encode() in read_bytes(p) for p in d.messages(BOB))


def test_sendmail_mail_waits_while_the_filter_is_down(delivery):
    if not have_pymilter():
        pytest.skip("python3-milter (pymilter) is not installed")
    port = free_port()
    d = delivery()
    d.params["non_smtpd_milters"] = "inet:127.0.0.1:%d" % port
    d.start()
    mark = d.o.log_mark()
    tok = token()
    sendmail(d, [ALICE], "hello " + tok)
    wait_until(lambda: "trying again in" in d.o.log_text()[mark:],
               what="the temporary refusal logged")
    assert not maildrop_empty(d), "the message must wait in the maildrop"
    assert d.messages(ALICE) == []
    # The filter comes up: the message goes on at the next scan.
    f = Filter(port=port)
    try:
        wait_until(lambda: d.messages(ALICE), timeout=30,
                   what="delivery once the filter is back")
    finally:
        f.stop()


def test_sendmail_mail_signed_by_opendkim(delivery, opendkim):
    """The reason most sites set non_smtpd_milters: what web
    applications and cron send with sendmail gets its DKIM signature."""
    d = delivery()
    d.params["non_smtpd_milters"] = "inet:127.0.0.1:%d" % opendkim.port
    d.start()
    tok = token()
    msg = ("From: someone@elsewhere.example\nTo: %s\nSubject: cron %s\n"
           "Date: Mon, 30 Nov 2026 05:00:00 +0000\n"
           "Message-ID: <%s@elsewhere.example>\n\nDaily report.\n"
           % (ALICE, tok, tok))
    r = subprocess.run([d.o.binary, "-c", d.o.confdir, "sendmail", "-f",
                        "someone@elsewhere.example", ALICE],
                       input=msg.encode(), capture_output=True, timeout=60)
    assert r.returncode == 0, r
    [path] = d.wait_messages(ALICE, 1, containing=tok)
    data = read_bytes(path)
    assert b"DKIM-Signature:" in data, data[:600]
    assert opendkim.verify(data), \
        "the delivered signature does not verify: %r" % data


def test_a_file_refused_for_now_does_not_hold_up_the_others(delivery,
                                                            milter):
    d = delivery()
    d.params["non_smtpd_milters"] = "inet:127.0.0.1:%d" % milter.port
    d.start()
    mark = d.o.log_mark()
    tok = token()
    # The filter answers TEMPFAIL to this recipient, every time.
    sendmail(d, ["bob+tempfail@" + VDOMAIN], "first " + tok)
    wait_until(lambda: "trying again in" in d.o.log_text()[mark:],
               what="the temporary refusal logged")
    sendmail(d, [ALICE], "second " + tok)
    [path] = d.wait_messages(ALICE, 1, containing=tok)
    assert b"second " + tok.encode() in read_bytes(path)
    # The first one still waits in the maildrop, not lost, not queued.
    assert not maildrop_empty(d)
    assert d.messages(BOB) == []
