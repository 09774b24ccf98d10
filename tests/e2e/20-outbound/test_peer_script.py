# SPDX-License-Identifier: MIT
"""The smtp agent against a scripted SMTP peer (smtp_peer.SmtpPeer on
127.0.0.1), reached through transport_maps (peer.test ->
smtp:[127.0.0.1]:PORT; the DNS server configured knows no name, so
nothing here depends on DNS).

- 450 at RCPT: deferred with the peer's words, then delivered on a
  retry, exactly one copy.
- 550 at RCPT: bounced; the notice carries the peer's text.
- The peer closes the connection in the middle of DATA: deferred, then
  delivered once when the peer behaves.
- PIPELINING: used when offered (RCPT arrives before the MAIL reply
  left), never when not offered.
- SIZE: announced in MAIL FROM; a message larger than the peer's limit
  bounces 5.3.4 without being sent.
- SMTPUTF8: a UTF-8 envelope to a peer without SMTPUTF8 bounces with
  words saying so; to a peer with it, MAIL FROM carries SMTPUTF8.
- DSN: NOTIFY, ORCPT, RET and ENVID passed on when the peer offers DSN;
  without DSN at the peer, NOTIFY=SUCCESS gives a "relayed" notice.
- 8BITMIME: BODY=8BITMIME passed on, the 8-bit body unchanged.
- smtp_destination_recipient_limit splits the recipients.
- A peer that goes silent after the message (smtp_data_done_timeout):
  deferred with words saying it timed out, delivered once later.
- smtp_bind_address: the connection comes from that address.
"""

import re

from delivery_e2e import (SENDER, Dsn, check_dsn_structure, read_bytes,
                          settle, token)
from outbound_e2e import host_said, message_for
from smtp_peer import CLOSE, STALL

DOMAIN = "peer.test"
BOB = "bob@" + DOMAIN
CAROL = "carol@" + DOMAIN


def via_peer(mta, p, dns, **params):
    # A DNS server that knows no name: nothing here needs DNS, and
    # smtpd's reverse lookup of 127.0.0.1 gets a quick "not found".
    a = mta("a.ostia.test")
    a.params["dns_resolvers"] = dns({}).resolvers
    a.params.update(params)
    a.route(DOMAIN, "smtp:" + p.nexthop)
    return a.start()


def test_450_then_accepted_once(mta, peer, dns):
    p = peer()
    a = via_peer(mta, p, dns)
    tok = token()
    p.rule("rcpt", "450 4.2.1 <%s>: mailbox busy %s" % (BOB, tok), BOB)
    qid = a.send(BOB, message_for(tok, BOB))
    line = a.wait_status(BOB, "deferred").group(0)
    assert re.search(host_said("127.0.0.1", "127.0.0.1") +
                     r"450 4\.2\.1 <%s>: mailbox busy %s"
                     % (re.escape(BOB), tok), line), line
    assert "RCPT TO" in line, line
    a.wait_deferred_in_queue(qid, "mailbox busy")
    p.clear("rcpt", BOB)
    p.wait(lambda s: s.delivered(BOB) >= 1, "delivery on a retry",
           diag=a.diag)
    a.wait_sent(BOB, "127.0.0.1", "127.0.0.1", p.port)
    a.wait_queue_empty()
    settle(2)
    assert p.delivered(BOB) == 1, \
        "exactly one copy expected:\n" + p.describe()
    [data] = p.delivered_data(BOB)
    assert ("Hello, this is %s." % tok).encode() in data
    assert not a.messages(SENDER), "no notice expected:\n" + a.diag()


def test_550_bounced_with_peer_text(mta, peer, dns):
    p = peer()
    a = via_peer(mta, p, dns)
    tok = token()
    text = "550 5.1.1 <%s>: no such user here %s" % (BOB, tok)
    p.rule("rcpt", text, BOB)
    a.send([BOB, CAROL], message_for(tok, BOB))
    line = a.wait_status(BOB, "bounced").group(0)
    assert "said: " + text in line, line
    assert "RCPT TO" in line, line
    a.wait_sent(CAROL, "127.0.0.1", "127.0.0.1", p.port)
    dsn = a.wait_dsn(SENDER, tok)
    check_dsn_structure(dsn)
    r = dsn.recipient(BOB)
    assert r.get("action") == "failed", dsn.describe()
    assert r.get("status") == "5.1.1", dsn.describe()
    assert re.match(r"smtp; *%s$" % re.escape(text),
                    r.get("diagnostic-code", ""), re.I), dsn.describe()
    assert len(dsn.per_recipient) == 1, dsn.describe()
    a.wait_queue_empty()
    assert p.delivered(CAROL) == 1 and p.delivered(BOB) == 0, p.describe()


def test_close_mid_data_then_delivered_once(mta, peer, dns):
    p = peer()
    a = via_peer(mta, p, dns)
    tok = token()
    p.rule("body", CLOSE)
    qid = a.send(BOB, message_for(tok, BOB))
    p.wait(lambda s: any(t["closed"] for t in s.transactions),
           "the scripted close in DATA", diag=a.diag)
    line = a.wait_status(BOB, "deferred").group(0)
    assert re.search(r"lost connection|connection (closed|reset)", line,
                     re.I), line
    a.wait_deferred_in_queue(qid)
    assert p.delivered(BOB) == 0
    p.clear("body")
    p.wait(lambda s: s.delivered(BOB) >= 1, "delivery once the peer "
           "behaves", diag=a.diag)
    a.wait_queue_empty()
    settle(2)
    assert p.delivered(BOB) == 1, p.describe()
    assert not a.messages(SENDER), a.diag()


def test_pipelining_used_when_offered(mta, peer, dns):
    # The peer holds its MAIL reply until DATA arrives (at most 3 s).
    p = peer(hold_mail_reply=3.0)
    a = via_peer(mta, p, dns)
    tok = token()
    a.send([BOB, CAROL], message_for(tok, BOB))
    p.wait(lambda s: s.delivered(BOB) == 1 and s.delivered(CAROL) == 1,
           "delivery", diag=a.diag)
    t = p.completed()[0]
    early = t["before_mail_reply"]
    assert any(re.match(r"RCPT TO:<%s>" % re.escape(BOB), l, re.I)
               for l in early) and \
        any(re.match(r"RCPT TO:<%s>" % re.escape(CAROL), l, re.I)
            for l in early), \
        "with PIPELINING the RCPT commands should be sent without " \
        "waiting for the MAIL reply:\n" + p.describe()


def test_no_pipelining_when_not_offered(mta, peer, dns):
    p = peer(capabilities=("SIZE 10240000", "8BITMIME",
                           "ENHANCEDSTATUSCODES"), hold_mail_reply=1.5)
    a = via_peer(mta, p, dns)
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    p.wait(lambda s: s.delivered(BOB) == 1, "delivery", diag=a.diag)
    t = p.completed()[0]
    assert t["before_mail_reply"] == [], \
        "commands sent before the MAIL reply to a server without " \
        "PIPELINING:\n" + p.describe()


def test_size_announced(mta, peer, dns):
    p = peer()
    a = via_peer(mta, p, dns)
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    p.wait(lambda s: s.delivered(BOB) == 1, "delivery", diag=a.diag)
    t = p.completed()[0]
    m = re.search(r"\bSIZE=(\d+)\b", t["mail"], re.I)
    assert m, "MAIL FROM should carry SIZE=: %r" % t["mail"]
    n = int(m.group(1))
    assert len(t["data"]) // 2 <= n <= len(t["data"]) * 2, \
        "SIZE=%d for a message of %d bytes" % (n, len(t["data"]))


def test_size_over_peer_limit_bounced_unsent(mta, peer, dns):
    p = peer(capabilities=("PIPELINING", "SIZE 1000", "8BITMIME",
                           "ENHANCEDSTATUSCODES"))
    a = via_peer(mta, p, dns)
    tok = token()
    body = ["%s line %d %s" % (tok, i, "x" * 60) for i in range(80)]
    a.send(BOB, message_for(tok, BOB, body=body))
    line = a.wait_status(BOB, "bounced").group(0)
    assert re.search(r"size", line, re.I), line
    dsn = a.wait_dsn(SENDER, tok)
    r = dsn.recipient(BOB)
    assert r.get("status") == "5.3.4", dsn.describe()
    a.wait_queue_empty()
    assert not p.transactions, \
        "nothing should be sent to a server whose SIZE is too small:\n" \
        + p.describe()


UTF8_RCPT = "j\u00f6rg@" + DOMAIN


def test_smtputf8_to_peer_without_it_bounced(mta, peer, dns):
    p = peer(capabilities=("PIPELINING", "SIZE 10240000", "8BITMIME",
                           "ENHANCEDSTATUSCODES", "DSN"))
    a = via_peer(mta, p, dns)
    tok = token()
    a.send(UTF8_RCPT, message_for(tok, UTF8_RCPT, eightbit=True),
           mail_opts=["SMTPUTF8", "BODY=8BITMIME"])
    line = a.wait_status(UTF8_RCPT, "bounced").group(0)
    assert "SMTPUTF8" in line.upper(), \
        "the bounce should say the server lacks SMTPUTF8: %r" % line
    dsn = a.wait_dsn(SENDER, tok)
    # The notice may be message/delivery-status or (RFC 6533, for a
    # UTF-8 address) message/global-delivery-status: read the raw text.
    raw = dsn.raw.decode("utf-8", "replace")
    assert "SMTPUTF8" in dsn.text.upper(), \
        "the notice should say the server lacks SMTPUTF8:\n" + raw[:4000]
    assert re.search(r"^Action: *failed", raw, re.M | re.I) and \
        re.search(r"^Status: *5\.\d+\.\d+", raw, re.M), raw[:4000]
    a.wait_queue_empty()
    assert not any(r for t in p.transactions for r in t["rcpts"]), \
        "the UTF-8 recipient must not be offered:\n" + p.describe()


def test_smtputf8_passed_on(mta, peer, dns):
    p = peer()      # offers SMTPUTF8
    a = via_peer(mta, p, dns)
    tok = token()
    a.send(UTF8_RCPT, message_for(tok, UTF8_RCPT, eightbit=True),
           mail_opts=["SMTPUTF8", "BODY=8BITMIME"])
    p.wait(lambda s: s.delivered(UTF8_RCPT) == 1, "delivery", diag=a.diag)
    t = p.completed()[0]
    assert re.search(r"\bSMTPUTF8\b", t["mail"], re.I), t["mail"]
    a.wait_sent(UTF8_RCPT, "127.0.0.1", "127.0.0.1", p.port)


def test_dsn_parameters_passed_on(mta, peer, dns):
    p = peer()      # offers DSN
    a = via_peer(mta, p, dns)
    tok = token()
    envid = "env-" + tok
    orcpt = "orig-%s@example.org" % tok
    a.send(BOB, message_for(tok, BOB),
           mail_opts=["RET=HDRS", "ENVID=" + envid],
           rcpt_opts={BOB: ["NOTIFY=SUCCESS,FAILURE",
                            "ORCPT=rfc822;" + orcpt]})
    p.wait(lambda s: s.delivered(BOB) == 1, "delivery", diag=a.diag)
    t = p.completed()[0]
    assert re.search(r"\sRET=HDRS\b", t["mail"], re.I), t["mail"]
    assert re.search(r"\sENVID=%s(\s|$)" % re.escape(envid), t["mail"]), \
        t["mail"]
    [(_, rcpt_line, _)] = t["rcpts"]
    m = re.search(r"\sNOTIFY=(\S+)", rcpt_line, re.I)
    assert m and sorted(m.group(1).upper().split(",")) == \
        ["FAILURE", "SUCCESS"], rcpt_line
    assert re.search(r"\sORCPT=rfc822;%s(\s|$)" % re.escape(orcpt),
                     rcpt_line, re.I), rcpt_line
    a.wait_queue_empty()
    # The peer took over the duty to notify: no notice from Ostia, be it
    # "relayed" or "delivered" (RFC 3461 5.2.2).
    settle(2)
    notices = a.messages(SENDER)
    assert not notices, \
        "the peer offered DSN and took NOTIFY=SUCCESS,FAILURE, so Ostia " \
        "must not notify the sender itself; it sent:\n" + \
        Dsn(read_bytes(notices[0]), notices[0]).describe()


def test_notify_success_to_peer_without_dsn_relayed(mta, peer, dns):
    p = peer(capabilities=("PIPELINING", "SIZE 10240000", "8BITMIME",
                           "ENHANCEDSTATUSCODES"))
    a = via_peer(mta, p, dns)
    tok = token()
    a.send(BOB, message_for(tok, BOB), rcpt_opts={BOB: ["NOTIFY=SUCCESS"]})
    p.wait(lambda s: s.delivered(BOB) == 1, "delivery", diag=a.diag)
    t = p.completed()[0]
    assert not re.search(r"NOTIFY=|ORCPT=", t["rcpts"][0][1], re.I), \
        "DSN parameters sent to a server without DSN: %r" % t["rcpts"][0][1]
    assert not re.search(r"RET=|ENVID=", t["mail"], re.I), t["mail"]
    # RFC 3461 5.2.2: the sender asked to hear of success and the next
    # hop cannot tell: a "relayed" notice.
    dsn = a.wait_dsn(SENDER, tok)
    check_dsn_structure(dsn)
    r = dsn.recipient(BOB)
    assert r.get("action") == "relayed", dsn.describe()
    assert r.get("status", "").startswith("2."), dsn.describe()


def test_8bitmime_passed_on(mta, peer, dns):
    p = peer()
    a = via_peer(mta, p, dns)
    tok = token()
    a.send(BOB, message_for(tok, BOB, eightbit=True),
           mail_opts=["BODY=8BITMIME"])
    p.wait(lambda s: s.delivered(BOB) == 1, "delivery", diag=a.diag)
    t = p.completed()[0]
    assert re.search(r"\sBODY=8BITMIME\b", t["mail"], re.I), t["mail"]
    want = ("Gr\u00fc\u00dfe aus K\u00f6ln, \u00e7a va? %s" % tok).encode()
    assert want in t["data"], "the 8-bit body should arrive unchanged"


def test_destination_recipient_limit(mta, peer, dns):
    """smtp_destination_recipient_limit = 2: three recipients of one
    message go in two transactions (2 + 1), each delivered once."""
    p = peer()
    a = via_peer(mta, p, dns, smtp_destination_recipient_limit="2")
    tok = token()
    rcpts = ["r%d@%s" % (i, DOMAIN) for i in range(3)]
    a.send(rcpts, message_for(tok, rcpts[0]))
    p.wait(lambda s: all(s.delivered(r) == 1 for r in rcpts),
           "delivery to all three", diag=a.diag)
    a.wait_queue_empty()
    sizes = sorted(len(t["rcpts"]) for t in p.completed())
    assert sizes == [1, 2], \
        "expected transactions of 2 and 1 recipients:\n" + p.describe()
    assert all(p.delivered(r) == 1 for r in rcpts), p.describe()


def test_silent_peer_times_out_then_delivered_once(mta, peer, dns):
    p = peer()
    a = via_peer(mta, p, dns, smtp_data_done_timeout="3s")
    tok = token()
    p.rule("dot", STALL)
    qid = a.send(BOB, message_for(tok, BOB))
    line = a.wait_status(BOB, "deferred").group(0)
    assert re.search(r"time[ds]? ?out", line, re.I), \
        "the deferral should say the server did not answer in time: %r" \
        % line
    a.wait_deferred_in_queue(qid)
    p.clear("dot")
    p.wait(lambda s: s.delivered(BOB) >= 1, "delivery once the peer "
           "answers", diag=a.diag)
    a.wait_queue_empty()
    assert p.delivered(BOB) == 1, p.describe()


def test_smtp_bind_address(mta, peer, dns):
    p = peer()
    a = via_peer(mta, p, dns, smtp_bind_address="127.0.0.5")
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    p.wait(lambda s: s.delivered(BOB) == 1, "delivery", diag=a.diag)
    assert set(p.clients) == {"127.0.0.5"}, p.describe()
