# SPDX-License-Identifier: MIT
"""Header and body checks for mail submitted with the sendmail command,
and what happens to a local submission refused after the command
returned.

Postfix's cleanup applies header_checks and body_checks to every
message, whatever its way in; Ostia's pickup does the same (before the
header addresses are completed).  A message refused there (REJECT, a
byte of message_reject_characters in a maildrop file written without
the command) cannot be refused to the submitter any more: the command
has long returned.  It is queued with its refusal and returned to its
sender, with the reason in the notice and in the log, never dropped in
silence.  DISCARD drops it with a log line; HOLD holds it.  The pickup
service's `-o receive_override_options=no_header_body_checks` turns the
checks off for local submissions.
"""

import os
import re

from delivery_e2e import (QUEUE_ID, SENDER, check_dsn_structure,
                          read_bytes, token)
from ostia_harness import wait_until
from test_sendmail import (ALICE, BOB, delivered, drop, ids, maildrop_file,
                           ok, run)

CHECKS = {
    "header_checks": (
        "/^Subject: .*reject-me/ REJECT refused by the local header check\n"
        "/^Subject: .*hold-me/ HOLD held for a look\n"
        "/^X-Strip-Me:/ IGNORE\n"),
    "body_checks": "/discard-me/ DISCARD nobody wants this\n",
}


def with_checks(d):
    for name, text in CHECKS.items():
        d.params[name] = d.table(name, text).replace("texthash:", "pcre:")
    return d


def maildrop_empty(d):
    return not os.listdir(os.path.join(d.o.queue_dir, "maildrop"))


def test_checks_apply_to_local_submissions(delivery, bindir):
    d = with_checks(delivery()).start()
    mark = d.o.log_mark()
    # IGNORE: the header is gone, the message delivered.
    tok = token()
    ok(run(bindir, d, ["-i", "-f", SENDER, ALICE],
           ("Subject: %s\nX-Strip-Me: secret\n\nhello\n" % tok).encode()))
    data = delivered(d, ALICE, tok)
    assert b"X-Strip-Me" not in data, data

    # REJECT: the command has returned 0; the message comes back to its
    # sender with the reason, and nothing reaches the recipients.
    tok = token()
    ok(run(bindir, d, ["-i", "-f", SENDER, ALICE, BOB],
           ("Subject: reject-me %s\n\nbuy now\n" % tok).encode()))
    dsn = d.wait_dsn(SENDER, containing=tok)
    check_dsn_structure(dsn)
    for rcpt in (ALICE, BOB):
        r = dsn.recipient(rcpt)
        assert r.get("action") == "failed", dsn.describe()
        assert r.get("status") == "5.7.1", dsn.describe()
        assert "refused by the local header check" in \
            r.get("diagnostic-code", ""), dsn.describe()
    assert dsn.returned is not None and tok.encode() in dsn.returned
    log = d.o.log_text()[mark:]
    assert re.search(r"%s: reject: header Subject: reject-me %s from local; "
                     r"from=<%s> to=<%s>: 5\.7\.1 refused by the local "
                     r"header check" % (QUEUE_ID, tok, re.escape(SENDER),
                                        re.escape(ALICE)), log), log
    assert re.search(r"to=<%s>, relay=none, dsn=5\.7\.1, status=bounced"
                     % re.escape(BOB), log), log
    d.wait_queue_empty()
    for rcpt in (ALICE, BOB):
        assert not any(tok.encode() in read_bytes(p)
                       for p in d.messages(rcpt))

    # DISCARD (body_checks): dropped with a log line, nothing returned.
    tok = token()
    ok(run(bindir, d, ["-i", "-f", SENDER, ALICE],
           ("Subject: %s\n\nthis is discard-me text\n" % tok).encode()))
    d.wait_log(r"%s: discard: body this is discard-me text from local; "
                 r"from=<%s> to=<%s>: nobody wants this"
                 % (QUEUE_ID, re.escape(SENDER), re.escape(ALICE)),
                 start=mark)
    wait_until(lambda: maildrop_empty(d), what="the maildrop file removed")
    d.wait_queue_empty()
    for rcpt in (ALICE, SENDER):
        assert not any(tok.encode() in read_bytes(p)
                       for p in d.messages(rcpt))

    # HOLD: in the hold queue, with the reason.
    tok = token()
    ok(run(bindir, d, ["-i", "-f", SENDER, ALICE],
           ("Subject: hold-me %s\n\nx\n" % tok).encode()))
    m = d.wait_log(r"(%s): held: held for a look" % QUEUE_ID, start=mark)
    qid = m.group(1)
    show = d.o.cli("queue", "show", qid).stdout
    assert "hold: held for a look" in show, show
    assert tok in show


def test_pickup_can_turn_the_checks_off(delivery, bindir):
    d = with_checks(delivery())
    d.master_extra = ("pickup unix n - n 60 1 pickup\n"
                      "  -o receive_override_options=no_header_body_checks\n")
    d.start()
    tok = token()
    ok(run(bindir, d, ["-i", "-f", SENDER, ALICE],
           ("Subject: reject-me %s\nX-Strip-Me: kept\n\nx\n" % tok)
           .encode()))
    data = delivered(d, ALICE, tok)
    assert b"X-Strip-Me: kept" in data, data


def test_refused_maildrop_file_returns_to_sender(delivery):
    """message_reject_characters in a maildrop file that did not come
    from the command (which refuses such a message itself): returned
    to its sender, never dropped without a word."""
    d = delivery()
    d.params["message_reject_characters"] = "\\177"
    d.start()
    mark = d.o.log_mark()
    [name] = ids(1)
    tok = token()
    drop(d, name, maildrop_file(
        name, os.getuid(), "root", sender=SENDER,
        body=("Subject: %s\r\n\r\nbefore\x7fafter\r\n" % tok).encode()))
    dsn = d.wait_dsn(SENDER, containing=tok)
    r = dsn.recipient(ALICE)
    assert r.get("action") == "failed" and r.get("status") == "5.7.1", \
        dsn.describe()
    assert "message_reject_characters" in r.get("diagnostic-code", ""), \
        dsn.describe()
    d.wait_log(r"%s: uid=%d from=<%s> refused: 5\.7\.1 message content "
                 r"rejected: it holds the byte \\177"
                 % (QUEUE_ID, os.getuid(), re.escape(SENDER)), start=mark)
    d.wait_queue_empty()
    assert not any(tok.encode() in read_bytes(p) for p in d.messages(ALICE))
