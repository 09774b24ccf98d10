# SPDX-License-Identifier: MIT
"""smtp_generic_maps: the smtp agent sends the envelope sender, the
recipients and the addresses in the message headers as the table maps
them (a host whose local addresses are not valid on the Internet), with
canonical(5)'s lookup order; the log and the results keep the
addresses as queued.  A table that fails defers the mail with the
address and the cause, never sends it unmapped.

A (a.ostia.test) sends to B (mx1.remote.test, an Ostia) through the
loopback DNS server, as in test_two_ostia.py; B's Maildir shows what
went over the wire.
"""

import re

from delivery_e2e import make_message, token
from outbound_e2e import REMOTE, b_receiver, mx_zone, write_table

BOB = "bob@" + REMOTE
ALIAS = "team@" + REMOTE        # only A knows it: mapped to BOB

GENERIC = """
joe@a.ostia.test      joe.public@ext.example
@a.ostia.test         @ext.example
%s      %s
""" % (ALIAS, BOB)


def head_of(path):
    with open(path, "rb") as f:
        data = f.read()
    head, _, body = data.partition(b"\n\n")
    return head.decode(), body.decode()


def test_generic_maps_envelope_and_headers(mta, ostia_factory, dns, port):
    srv = dns({REMOTE: mx_zone()})
    b = b_receiver(ostia_factory).listen("127.0.0.2", port)
    b.start()
    a = mta("a.ostia.test").use_dns(srv, port)
    a.params["smtp_generic_maps"] = write_table(a.o.tmpdir, "generic",
                                                GENERIC, kind="texthash")
    a.start()
    tok = token()
    msg = make_message(tok, sender="joe@a.ostia.test", to=ALIAS,
                       extra_headers=(
                           "Cc: Ops <ops@a.ostia.test>, keep@elsewhere.test",
                           "Reply-To: \"joe@a.ostia.test\" <joe@a.ostia.test>"
                       ), body=["mail from joe@a.ostia.test"])
    qid = a.send(ALIAS, msg, sender="joe@a.ostia.test")
    [path] = b.wait_messages(BOB, 1, tok)
    head, body = head_of(path)
    assert head.startswith("Return-Path: <joe.public@ext.example>\n"), head
    assert re.search(r"^Delivered-To: %s$" % re.escape(BOB), head, re.M), \
        head
    assert re.search(r"^To: .*<?%s>?$" % re.escape(BOB), head, re.M), head
    # Only A's Received: header (not an address header) still names it.
    assert all(ln.startswith("\tfor <%s>; " % ALIAS)
               for ln in head.split("\n") if ALIAS in ln), head
    assert re.search(r"^From: .*joe\.public@ext\.example", head, re.M), head
    assert "\nCc: Ops <ops@ext.example>, keep@elsewhere.test\n" in head, head
    # The display name is a quoted string, not an address: it stays.
    assert ('\nReply-To: "joe@a.ostia.test" <joe.public@ext.example>\n'
            in head), head
    assert "mail from joe@a.ostia.test" in body, body
    # A's log names the recipient as queued.
    a.wait_log(r"%s: to=<%s>, relay=mx1\.remote\.test.*status=sent"
               % (qid, re.escape(ALIAS)))
    a.wait_queue_empty()


# A pcre table whose lookup fails at run time (catastrophic backtracking
# stops at PCRE2's match limit): a table failure, never "not found".
BACKTRACK = "/^(a+)+$/ never@example.com\n"
SLOW = "a" * 40 + "@a.ostia.test"


def test_generic_maps_failure_defers(mta, ostia_factory, dns, port):
    srv = dns({REMOTE: mx_zone()})
    b = b_receiver(ostia_factory).listen("127.0.0.2", port)
    b.start()
    a = mta("a.ostia.test").use_dns(srv, port)
    a.params["smtp_generic_maps"] = write_table(a.o.tmpdir, "generic.pcre",
                                                BACKTRACK)
    a.start()
    tok = token()
    qid = a.send(BOB, make_message(tok, sender=SLOW, to=BOB), sender=SLOW)
    a.wait_log(r"%s: to=<%s>.*status=deferred \(smtp_generic_maps lookup "
               r"of <%s> failed: " % (qid, re.escape(BOB), SLOW))
    # Nothing went out unmapped: the message is still in A's queue, and
    # B never saw A connect.
    a.wait_in_queue_dir(qid, "deferred")
    assert b.messages(BOB) == []
    assert "connect from a.ostia.test" not in b.o.log_text()
