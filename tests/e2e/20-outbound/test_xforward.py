# SPDX-License-Identifier: MIT
"""XFORWARD (smtp_send_xforward_command): the smtp agent tells the next
hop about the ORIGINAL client of a message, as the seed's smtp-amavis
service asks (amavisd-new's checks and policy banks need the client
address, not the 127.0.0.1 of the hand-off).

One Ostia, two transports to the same scripted peer (smtp_peer.SmtpPeer
offering "XFORWARD NAME ADDR PROTO HELO" after its usual extensions):

  smtp   unix ... smtp  -o smtp_send_xforward_command=yes  (xf.remote.test)
  plain  unix ... smtp  (the default: no)                  (no.remote.test)

The message is submitted to Ostia's smtpd from 127.0.0.5 (not the
127.0.0.1 Ostia's own client uses) with EHLO orig-client.test.

- test_xforward_carries_original_client: the peer's transaction for
  xf.remote.test was preceded by exactly one XFORWARD line, with the
  attributes it listed and only those: ADDR=127.0.0.5,
  HELO=orig-client.test, PROTO=ESMTP, a NAME; the message was sent.
- test_xforward_off_sends_none: through the plain transport the peer
  got no XFORWARD at all; the message was sent.

No timing assertions: every wait is a bounded poll.
"""

import re

from delivery_e2e import token
from outbound_e2e import message_for, submit_from
from smtp_peer import DEFAULT_CAPS

XF_DOMAIN = "xf.remote.test"
NO_DOMAIN = "no.remote.test"
CLIENT_ADDR = "127.0.0.5"
CLIENT_HELO = "orig-client.test"

PLAIN_SERVICE = "plain unix - - n - - smtp\n"


def two_transports(mta, peer, dns):
    p = peer(capabilities=DEFAULT_CAPS + ("XFORWARD NAME ADDR PROTO HELO",))
    a = mta("a.ostia.test")
    a.params["dns_resolvers"] = dns({}).resolvers
    a.smtp_service = ("smtp unix - - n - - smtp\n"
                      "  -o smtp_send_xforward_command=yes\n")
    a.master_extra = PLAIN_SERVICE
    a.route(XF_DOMAIN, "smtp:" + p.nexthop)
    a.route(NO_DOMAIN, "plain:" + p.nexthop)
    a.start()
    return a, p


def submit(a, rcpt, message):
    return submit_from(a, CLIENT_ADDR, CLIENT_HELO, rcpt, message)


def transaction_for(p, rcpt, a):
    p.wait(lambda s: s.delivered(rcpt) >= 1, "the message to %s" % rcpt,
           diag=a.diag)
    with p.lock:
        [t] = [t for t in p.transactions
               if any(r[0] == rcpt for r in t["rcpts"])]
        return dict(t)


def test_xforward_carries_original_client(mta, peer, dns):
    a, p = two_transports(mta, peer, dns)
    rcpt = "bob@" + XF_DOMAIN
    tok = token()
    submit(a, rcpt, message_for(tok, rcpt))
    t = transaction_for(p, rcpt, a)
    a.wait_sent(rcpt, "127.0.0.1", "127.0.0.1", p.port)
    assert len(t["xforward"]) == 1, p.describe()
    line = t["xforward"][0]
    assert line.startswith("XFORWARD "), line
    attrs = dict(item.split("=", 1) for item in line.split()[1:])
    assert set(attrs) == {"NAME", "ADDR", "PROTO", "HELO"}, line
    assert attrs["ADDR"] == CLIENT_ADDR, line
    assert attrs["HELO"] == CLIENT_HELO, line
    assert attrs["PROTO"] == "ESMTP", line
    assert re.fullmatch(r"[!-~]+", attrs["NAME"]), line


def test_xforward_off_sends_none(mta, peer, dns):
    a, p = two_transports(mta, peer, dns)
    rcpt = "carol@" + NO_DOMAIN
    tok = token()
    submit(a, rcpt, message_for(tok, rcpt))
    t = transaction_for(p, rcpt, a)
    a.wait_sent(rcpt, "127.0.0.1", "127.0.0.1", p.port)
    assert t["xforward"] == [], p.describe()
