# SPDX-License-Identifier: MIT
"""Two Ostia instances exchanging mail through the loopback DNS server.

A (a.ostia.test) takes a message for remote.test on its smtpd; its smtp
agent looks up remote.test's MX (mx1.remote.test -> 127.0.0.2) and
talks to B (mx1.remote.test), an Ostia listening on 127.0.0.2:PORT
(A's smtp_tcp_port), which delivers into its Maildir.

- Delivered, with the agent's Postfix-style log line (relay=, status=
  sent with B's reply) and a Received: chain (B's above A's).
- Per-recipient results: B accepts one recipient and refuses the other
  (550 5.1.1, unknown user): the first is delivered once, the second
  bounces to the sender at A with B's text in Diagnostic-Code, as an
  RFC 3464 report; nothing stays queued.
"""

import re

from delivery_e2e import SENDER, check_dsn_structure, token
from outbound_e2e import (REMOTE, b_receiver, host_said, message_for,
                          mx_zone, received_headers)

BOB = "bob@" + REMOTE
CAROL = "carol@" + REMOTE
NOBODY = "nobody@" + REMOTE


def start_pair(mta, ostia_factory, dns, port):
    srv = dns({REMOTE: mx_zone()})
    b = b_receiver(ostia_factory).listen("127.0.0.2", port)
    b.start()
    a = mta("a.ostia.test").use_dns(srv, port)
    a.start()
    return a, b


def test_delivered_with_received_chain(mta, ostia_factory, dns, port):
    a, b = start_pair(mta, ostia_factory, dns, port)
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    [path] = b.wait_messages(BOB, 1, tok)
    line = a.wait_sent(BOB, "mx1.remote.test", "127.0.0.2", port).group(0)
    assert re.search(r"status=sent \(.*\b250[ -]2\.0\.0\b", line), line
    a.wait_queue_empty()
    with open(path, "rb") as f:
        data = f.read()
    assert ("Hello, this is %s." % tok).encode() in data
    rec = received_headers(data)
    assert len(rec) >= 2, "two Received: fields expected: %r" % rec
    # Top: B's, for the hop from A; below it A's own, from the client.
    assert re.search(r"\bby mx1\.remote\.test\b", rec[0]), rec
    assert re.search(r"from a\.ostia\.test\b", rec[0]), rec
    assert "127.0.0.1" in rec[0], rec
    assert re.search(r"\bby a\.ostia\.test\b", rec[1]), rec
    assert re.search(r"from client\.test\b", rec[1]), rec
    assert len(b.messages(BOB)) == 1
    assert not a.messages(SENDER), "no notice expected:\n" + a.diag()


def test_per_recipient_results(mta, ostia_factory, dns, port):
    a, b = start_pair(mta, ostia_factory, dns, port)
    tok = token()
    a.send([BOB, NOBODY, CAROL], message_for(tok, BOB))
    b.wait_messages(BOB, 1, tok)
    b.wait_messages(CAROL, 1, tok)
    a.wait_sent(BOB, "mx1.remote.test", "127.0.0.2", port)
    a.wait_sent(CAROL, "mx1.remote.test", "127.0.0.2", port)
    line = a.wait_status(NOBODY, "bounced",
                         host_said("mx1.remote.test", "127.0.0.2") +
                         r"550 5\.1\.1 ").group(0)
    assert "RCPT TO" in line, \
        "the log should say which command was refused: %r" % line
    dsn = a.wait_dsn(SENDER, tok)
    check_dsn_structure(dsn)
    r = dsn.recipient(NOBODY)
    assert r.get("action") == "failed", dsn.describe()
    assert r.get("status") == "5.1.1", dsn.describe()
    diag = r.get("diagnostic-code", "")
    assert re.match(r"smtp; *550 5\.1\.1 ", diag, re.I), dsn.describe()
    assert NOBODY in diag, \
        "B's own text (naming the address) should reach the sender:\n" \
        + dsn.describe()
    assert len(dsn.per_recipient) == 1, \
        "only the refused recipient belongs in the notice:\n" \
        + dsn.describe()
    a.wait_queue_empty()
    assert len(b.messages(BOB)) == 1 and len(b.messages(CAROL)) == 1, \
        b.diag()
    # One transaction carried both accepted recipients: B queued it once.
    qids = re.findall(r"ostia/[\w.-]+\[\d+\]: (\w+): to=<%s>.*status=sent"
                      % re.escape(BOB), b.o.log_text())
    qids_c = re.findall(r"ostia/[\w.-]+\[\d+\]: (\w+): to=<%s>.*status=sent"
                        % re.escape(CAROL), b.o.log_text())
    assert qids and qids == qids_c, \
        "bob and carol should arrive in one message at B: %r %r" % (
            qids, qids_c)
