# SPDX-License-Identifier: MIT
"""Ostia and Postfix exchanging mail, both ways (a private Postfix
instance: postfix -c DIR, loopback ports only; skipped when postfix is
not installed).

- Ostia -> Postfix: Postfix is mx1.remote.test (127.0.0.2:PORT, found
  through the test DNS server) and delivers bob@remote.test into a
  Maildir; Postfix refuses nobody@remote.test (550 5.1.1, unknown in its
  virtual mailbox table) and Ostia bounces it to the sender with
  Postfix's text.
- Postfix -> Ostia: Postfix relays everything to relayhost =
  [127.0.0.1]:<Ostia's smtpd>; Ostia delivers into its Maildir.
"""

import re

from delivery_e2e import SENDER, VDOMAIN, check_dsn_structure, token
from ostia_harness import free_port
from outbound_e2e import (REMOTE, host_said, message_for, mx_zone,
                          received_headers)

BOB = "bob@" + REMOTE
NOBODY = "nobody@" + REMOTE


def test_ostia_to_postfix(mta, postfix, dns, port):
    pf = postfix(listen=[("127.0.0.2", port)], mailboxes=[BOB],
                 hostname="mx1.remote.test")
    pf.start()
    srv = dns({REMOTE: mx_zone()})
    a = mta("a.ostia.test").use_dns(srv, port).start()
    tok = token()
    a.send([BOB, NOBODY], message_for(tok, BOB))
    [path] = pf.wait_messages(BOB, tok)
    a.wait_sent(BOB, "mx1.remote.test", "127.0.0.2", port)
    with open(path, "rb") as f:
        data = f.read()
    rec = received_headers(data)
    assert re.search(r"from a\.ostia\.test\b", rec[0]) and \
        re.search(r"by mx1\.remote\.test \(Postfix\)", rec[0]), rec
    line = a.wait_status(NOBODY, "bounced",
                         host_said("mx1.remote.test", "127.0.0.2") +
                         r"550 5\.1\.1 ").group(0)
    assert "User unknown" in line, line
    dsn = a.wait_dsn(SENDER, tok)
    check_dsn_structure(dsn)
    r = dsn.recipient(NOBODY)
    assert r.get("status") == "5.1.1", dsn.describe()
    assert re.match(r"smtp; *550 5\.1\.1 <%s>: Recipient address rejected"
                    % re.escape(NOBODY), r.get("diagnostic-code", ""),
                    re.I), dsn.describe()
    a.wait_queue_empty()
    pf.wait_log(r"postfix/virtual\[\d+\]: \w+: to=<%s>.*status=sent"
                % re.escape(BOB))


def relay_through_postfix(b, postfix, **extra):
    """A Postfix relaying everything to Ostia b (started), with extra
    main.cf settings; one message sent into it with smtplib for
    alice@VDOMAIN.  Returns (Postfix, alice's delivered path)."""
    pport = free_port()
    pf = postfix(listen=[("127.0.0.1", pport)],
                 extra=dict({"relayhost": "[127.0.0.1]:%d" % b.o.port,
                             "smtp_dns_support_level": "disabled"},
                            **extra))
    pf.start()
    tok = token()
    alice = "alice@" + VDOMAIN
    import smtplib
    with smtplib.SMTP("127.0.0.1", pport, local_hostname="client.test",
                      timeout=30) as s:
        s.sendmail("someone@elsewhere.test", [alice],
                   message_for(tok, alice, sender="someone@elsewhere.test"))
    [path] = b.wait_messages(alice, 1, tok)
    return pf, path


def test_postfix_to_ostia(mta, postfix):
    b = mta("b.ostia.test").start()
    pf, path = relay_through_postfix(b, postfix)
    alice = "alice@" + VDOMAIN
    with open(path, "rb") as f:
        data = f.read()
    rec = received_headers(data)
    assert re.search(r"from postfix\.test\b", rec[0]) and \
        re.search(r"by b\.ostia\.test\b", rec[0]), rec
    assert any(re.search(r"by postfix\.test \(Postfix\)", r) for r in rec), \
        rec
    pf.wait_log(r"postfix/smtp\[\d+\]: \w+: to=<%s>, relay=127\.0\.0\.1"
                r"\[127\.0\.0\.1\]:%d,.*status=sent" % (re.escape(alice),
                                                      b.o.port))


def test_postfix_xforward_to_ostia(mta, postfix):
    """Postfix's smtp client with smtp_send_xforward_command = yes (how a
    content filter's hop passes the original client on) relaying to an
    Ostia that trusts it: Ostia logs Postfix's queue ID and client as
    orig_queue_id / orig_client, and delivers the message."""
    b = mta("b.ostia.test")
    b.params["smtpd_authorized_xforward_hosts"] = "127.0.0.0/8"
    b.start()
    pf, _ = relay_through_postfix(b, postfix,
                                  smtp_send_xforward_command="yes")
    pfid = pf.wait_log(r"postfix/smtpd\[\d+\]: (\w+): client=").group(1)
    b.o.wait_for_log(r"ostia/smtpd\[\d+\]: \w+: "
                     r"client=\S+\[127\.0\.0\.1\], orig_queue_id=%s, "
                     r"orig_client=\S+\[127\.0\.0\.1\]$" % pfid)
