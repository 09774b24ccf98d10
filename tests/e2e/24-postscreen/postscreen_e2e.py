# SPDX-License-Identifier: MIT
"""Helpers of the postscreen scenarios (tests/e2e/24-postscreen).

Ostia runs a Postfix-style master.cf: port 25's service runs
postscreen, which hands clients to the pass service "smtpd" (with an -o
of its own, to show that its settings are the ones smtpd uses), plus
the dnsblog and tlsproxy lines Postfix needs and Ostia does not.

The test DNS server (conftest.py: `dns`) serves ZONES:

  client      dnsbl.test (*2)  heavy.test=127.0.0.4 (*3)  dnswl.test (*-5)
  127.0.0.2   127.0.0.2        -                          -
  127.0.0.3   127.0.0.2        127.0.0.4                  -
  127.0.0.5   127.0.0.2        127.0.0.4                  127.0.10.1
  127.0.0.6   -                127.0.0.9 (filtered out)   127.0.10.1
  127.0.0.10  127.255.255.254  -                          -
  127.0.0.11  192.0.2.80       -                          -
  others      -                -                          -

(127.255.255.254 is Spamhaus's "you asked through a public resolver",
192.0.2.80 what a resolver that rewrites NXDOMAIN gives: errors, not
listings.)

so with SITES and postscreen_dnsbl_threshold = 3: 127.0.0.2 scores 2
(passes), 127.0.0.3 scores 5 (listed), 127.0.0.5 scores 0 (passes),
127.0.0.6 scores -5.

Ostia listens on 127.0.0.1; a client picks its source address among
127.0.0.x (Linux routes all of 127/8 to lo).  mynetworks is 127.0.0.1
alone, and example.net is a relay domain, so that any client may send
to rcpt@example.net once postscreen lets it through.
"""

import re
import socket

import ostia_harness

SMTPD = r"ostia/smtpd\[\d+\]: "
RCPT = "rcpt@example.net"

SITES = ("dnsbl.test*2, heavy.test=127.0.0.4*3, "
         "dnswl.test=127.0.[0..255].[0..255]*-5")

ZONES = {
    "dnsbl.test": [
        "2.0.0.127.dnsbl.test. 300 IN A 127.0.0.2",
        "3.0.0.127.dnsbl.test. 300 IN A 127.0.0.2",
        "5.0.0.127.dnsbl.test. 300 IN A 127.0.0.2",
        # Not listings: Spamhaus's "public resolver" code, and what a
        # resolver that rewrites NXDOMAIN gives.
        "10.0.0.127.dnsbl.test. 300 IN A 127.255.255.254",
        "11.0.0.127.dnsbl.test. 300 IN A 192.0.2.80",
    ],
    "heavy.test": [
        "3.0.0.127.heavy.test. 300 IN A 127.0.0.4",
        "5.0.0.127.heavy.test. 300 IN A 127.0.0.4",
        "6.0.0.127.heavy.test. 300 IN A 127.0.0.9",
    ],
    # For `ostia check --live` (test entries 127.0.0.2 and 127.0.0.1).
    "refusing.test": ["2.0.0.127.refusing.test. 300 IN A 127.255.255.254"],
    "everyone.test": [
        "1.0.0.127.everyone.test. 300 IN A 127.0.0.2",
        "2.0.0.127.everyone.test. 300 IN A 127.0.0.2",
    ],
    "dnswl.test": [
        "5.0.0.127.dnswl.test. 300 IN A 127.0.10.1",
        "6.0.0.127.dnswl.test. 300 IN A 127.0.10.1",
    ],
}

MASTER_CF = (
    "127.0.0.1:@port:smtp@ inet n - n - 1 postscreen\n"
    "smtpd pass - - n - - smtpd\n"
    "  -o smtpd_helo_required=yes\n"
    "dnsblog unix - - n - 0 dnsblog\n"
    "tlsproxy unix - - n - 0 tlsproxy\n")


def start(factory, resolvers, **params):
    """An Ostia with port 25 behind postscreen; params go to main.cf."""
    main = {
        "dns_resolvers": resolvers,
        "mynetworks": "127.0.0.1/32",
        "relay_domains": "example.net",
        "postscreen_greet_wait": "1s",
        "smtpd_error_sleep_time": "0",
        # Mail for example.net stays queued: nothing is sent out.
        "defer_transports": "smtp",
    }
    main.update(params)
    o = factory(main_cf=main, master_cf=MASTER_CF)
    o.start_foreground()
    return o


def dial(o, source, early=None):
    """A connection from source (127.0.0.x); early: bytes sent at once,
    before any greeting."""
    sock = socket.create_connection(("127.0.0.1", o.ports["smtp"]),
                                    timeout=20,
                                    source_address=(source, 0))
    if early:
        sock.sendall(early)
    return ostia_harness.SmtpClient(sock, timeout=20)


def greeting(c):
    """The greeting reply: (code, [lines])."""
    r = c.read_reply()
    return r.code, r.lines


def lines_until_close(c):
    """Every line the server sends until it closes the connection (or
    resets it: a reply lost to a reset is missing from the list)."""
    out = []
    while True:
        try:
            out.append(c.read_line().decode("utf-8", "replace"))
        except (EOFError, ConnectionResetError):
            return out


def mail_rcpt(c, helo=True):
    """EHLO (when helo), MAIL, RCPT; returns the RCPT reply."""
    if helo:
        c.command("EHLO client.test", expect=250)
    c.command("MAIL FROM:<sender@client.test>", expect=250)
    return c.command("RCPT TO:<%s>" % RCPT)


def who(source):
    return r"\[%s\]:\d+" % re.escape(source)
