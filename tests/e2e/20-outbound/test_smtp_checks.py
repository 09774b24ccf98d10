# SPDX-License-Identifier: MIT
"""smtp_header_checks and smtp_body_checks: the smtp agent changes the
message on its way out (the privacy rule that drops the submission
client's Received: header, as mailcow ships it; REPLACE, IGNORE, WARN),
and the copy in the queue stays as it was.  Actions that would change
the delivery (REJECT here) are logged and ignored, as in Postfix.

A (a.ostia.test) sends to B (mx1.remote.test, an Ostia) through the
loopback DNS server, as in test_two_ostia.py.
"""

import re

from delivery_e2e import token
from outbound_e2e import (REMOTE, b_receiver, message_for, mx_zone,
                          write_table)

BOB = "bob@" + REMOTE

HEADER_CHECKS = r"""
/^Received: from client\.test / IGNORE
/^X-Secret:/ IGNORE
/^X-Note: (.*)$/ REPLACE X-Replaced: was $1
/^X-Warn-Me:/ WARN an outbound header to look at
/^X-Refuse:/ REJECT not here
"""
BODY_CHECKS = r"""
/^password=/ REPLACE password=xxxx
"""


def test_smtp_header_and_body_checks(mta, ostia_factory, dns, port):
    srv = dns({REMOTE: mx_zone()})
    b = b_receiver(ostia_factory).listen("127.0.0.2", port)
    b.start()
    a = mta("a.ostia.test").use_dns(srv, port)
    a.params["smtp_header_checks"] = write_table(a.o.tmpdir, "hc.pcre",
                                                 HEADER_CHECKS)
    a.params["smtp_body_checks"] = write_table(a.o.tmpdir, "bc.pcre",
                                               BODY_CHECKS)
    a.start()
    tok = token()
    msg = message_for(tok, BOB, extra_headers=(
        "X-Secret: hush", "X-Note: keep me", "X-Warn-Me: yes",
        "X-Refuse: please"), body=["Hello %s." % tok, "password=hunter2",
                                   "bye"])
    qid = a.send(BOB, msg)
    [path] = b.wait_messages(BOB, 1, tok)
    with open(path, "rb") as f:
        data = f.read()
    head, _, body = data.partition(b"\n\n")
    assert b"X-Secret" not in head, head
    assert b"\nX-Replaced: was keep me\n" in head, head
    assert b"X-Note" not in head, head
    assert b"X-Refuse: please" in head, head    # REJECT: not here
    assert b"password=xxxx" in body and b"hunter2" not in body, body
    # A's own Received: (from client.test) is gone; B's is there.
    assert b"from client.test" not in head, head
    assert re.search(rb"Received: from a\.ostia\.test", head), head
    a.wait_log(r"%s: warning: header X-Warn-Me: yes: an outbound header to "
               r"look at" % qid)
    a.wait_log(r"%s: replace: header X-Note: keep me: X-Replaced: was "
               r"keep me" % qid)
    a.wait_log(r"warning: %s: smtp_header_checks: action \"REJECT\" is "
               r"not available on "
               r"delivery \(only REPLACE, PREPEND, IGNORE, WARN, INFO, "
               r"DUNNO and OK\); ignored" % qid)
    a.wait_queue_empty()
