# SPDX-License-Identifier: MIT
"""Helpers of the smtpd DNS scenarios (tests/e2e/19-smtpd-dns).

The test DNS server (conftest.py: `dns`) serves ZONES:

  client address  PTR                 forward A             client name
  127.0.0.1       client.good.test    127.0.0.1             client.good.test
  127.0.0.2       (none)                                    unknown
  127.0.0.3       liar.good.test      127.0.0.99 (no match) unknown
  127.0.0.4       (none)                                    unknown

  good.test       MX 10 mx.good.test (A 127.0.0.1)
  aonly.test      A only (no MX): a mail domain all the same
  nullmx.test     MX 0 . (RFC 7505: takes no mail)
  spammer.test    MX, and listed in rhsbl.test
  nowhere.test    does not exist (NXDOMAIN)
  dnsbl.test      DNSBL: 127.0.0.2 listed (A 127.0.0.2, TXT); for
                  127.0.0.9 it answers 127.255.255.254, Spamhaus's
                  "asked through a public resolver" (an error)
  rhsbl.test      RHSBL: spammer.test listed (A 127.0.0.2, TXT)
  bogusmx.test    MX 10 mx.bogusmx.test, whose A is 10.1.2.3 (a network
                  that never sends mail: a "bogon MX")
  okmx.test       MX 10 mx.okmx.test, A 10.2.0.1
  badns.test      NS ns.evil.test (and no MX, no A)
  backup.test     MX 10 mx1.backup.test (192.0.2.10), MX 20
                  mx2.backup.test (127.0.0.1: this host, a backup MX)
  primary.test    MX 10 mx.primary.test (127.0.0.1: this host)

Ostia listens on 127.0.0.1; a client picks its source address among
127.0.0.x (Linux routes all of 127/8 to lo).  mynetworks = 127.0.0.0/8
so that recipients in remote domains are relayed once the restriction
under test lets them pass.
"""

import re
import smtplib

import dns_server

SMTPD = r"ostia/smtpd\[\d+\]: "
QUEUED_RE = re.compile(rb"2\.0\.0 Ok: queued as ([0-9A-Z]{16})\Z")

GOOD = "127.0.0.1"       # forward-confirmed: client.good.test
LISTED = "127.0.0.2"     # no PTR; in dnsbl.test
LIAR = "127.0.0.3"       # PTR liar.good.test, whose A is another address
NOPTR = "127.0.0.4"      # no PTR
REFUSED = "127.0.0.9"    # dnsbl.test answers 127.255.255.254 (an error)

RCPT = "rcpt@example.net"
TXT_RBL = "listed for testing"
TXT_RHSBL = "spammer domain"

ZONES = {
    "0.0.127.in-addr.arpa": [
        "1.0.0.127.in-addr.arpa. 300 IN PTR client.good.test.",
        "3.0.0.127.in-addr.arpa. 300 IN PTR liar.good.test.",
    ],
    "good.test": [
        "good.test. 300 IN MX 10 mx.good.test.",
        "mx.good.test. 300 IN A 127.0.0.1",
        "client.good.test. 300 IN A 127.0.0.1",
        "liar.good.test. 300 IN A 127.0.0.99",
    ],
    "aonly.test": ["aonly.test. 300 IN A 127.0.0.1"],
    "nullmx.test": ["nullmx.test. 300 IN MX 0 ."],
    "spammer.test": ["spammer.test. 300 IN MX 10 mx.good.test."],
    "dnsbl.test": [
        "2.0.0.127.dnsbl.test. 300 IN A 127.0.0.2",
        '2.0.0.127.dnsbl.test. 300 IN TXT "%s"' % TXT_RBL,
        # Spamhaus's "query through a public resolver": no listing.
        "9.0.0.127.dnsbl.test. 300 IN A 127.255.255.254",
    ],
    "rhsbl.test": [
        "spammer.test.rhsbl.test. 300 IN A 127.0.0.2",
        'spammer.test.rhsbl.test. 300 IN TXT "%s"' % TXT_RHSBL,
    ],
    "bogusmx.test": [
        "bogusmx.test. 300 IN MX 10 mx.bogusmx.test.",
        "mx.bogusmx.test. 300 IN A 10.1.2.3",
    ],
    "okmx.test": [
        "okmx.test. 300 IN MX 10 mx.okmx.test.",
        "mx.okmx.test. 300 IN A 10.2.0.1",
    ],
    "badns.test": ["badns.test. 300 IN NS ns.evil.test."],
    "backup.test": [
        "backup.test. 300 IN MX 10 mx1.backup.test.",
        "backup.test. 300 IN MX 20 mx2.backup.test.",
        "mx1.backup.test. 300 IN A 192.0.2.10",
        "mx2.backup.test. 300 IN A 127.0.0.1",
    ],
    "primary.test": [
        "primary.test. 300 IN MX 10 mx.primary.test.",
        "mx.primary.test. 300 IN A 127.0.0.1",
    ],
}

MESSAGE = (b"From: sender@good.test\r\n"
           b"To: rcpt@example.net\r\n"
           b"Subject: smtpd DNS test\r\n"
           b"\r\n"
           b"Hello.\r\n")


def start(factory, resolvers, extra_args=(), **params):
    """An Ostia whose smtpd asks resolvers (a DnsServer's .resolvers or
    dns_server.dead_resolver()); params go to main.cf, extra_args to
    `ostia run` (("-v",) for debug logging)."""
    main = {
        "dns_resolvers": resolvers,
        "smtpd_peername_lookup": "yes",
        "mynetworks": "127.0.0.0/8",
        "smtpd_error_sleep_time": "0",
        "smtpd_soft_error_limit": "100",
        "smtpd_hard_error_limit": "200",
    }
    main.update(params)
    o = factory(main_cf=main)
    o.start_foreground(extra_args=extra_args)
    return o


def connect(o, source, helo="client.good.test"):
    """An SMTP session from source (127.0.0.x) after EHLO."""
    s = smtplib.SMTP(timeout=60, local_hostname=helo,
                     source_address=(source, 0))
    code, _ = s.connect("127.0.0.1", o.port)
    assert code == 220
    code, text = s.ehlo()
    assert code == 250, (code, text)
    return s


def transaction(o, source, sender="sender@good.test", rcpt=RCPT,
                helo="client.good.test", data=True):
    """MAIL, RCPT (and DATA when the recipient is accepted and data) from
    source.  Returns (mail reply, rcpt reply, queue ID or None); each
    reply is (code, text as str)."""
    s = connect(o, source, helo=helo)
    try:
        m = s.mail(sender)
        r = s.rcpt(rcpt) if m[0] == 250 else (None, b"")
        qid = None
        if r[0] == 250 and data:
            code, text = s.data(MESSAGE)
            assert code == 250, (code, text)
            qid = QUEUED_RE.search(text).group(1).decode()
        s.quit()
    finally:
        s.close()
    return ((m[0], m[1].decode()), (r[0], r[1].decode()), qid)


def dead_resolver():
    return dns_server.dead_resolver()
