# SPDX-License-Identifier: MIT
"""Address verification: reject_unverified_recipient and
reject_unverified_sender.

A (a.ostia.test) relays for remote.test, whose MX is B (mx1.remote.test,
an Ostia that refuses unknown users at RCPT with 550 5.1.1), found
through the loopback DNS server.  A verifies a recipient by a probe: a
queue file it writes itself, routed like mail, that its smtp agent
takes as far as RCPT TO and no further.  The probe's result is cached in
A's queue process; smtpd waits for it (address_verify_poll_count - 1) x
address_verify_poll_delay, then answers "in progress".

Checked: the replies (Postfix's words and codes), that a probe never
delivers anything (B gets no message from it, A's Maildirs neither),
that the cache answers the second time without a new probe, the
temporary and pending answers, and the virtual agent's answer for
senders in A's own domain.
"""

import re
import smtplib
import time

from delivery_e2e import VDOMAIN, make_message, maildir_files, token
from outbound_e2e import MX_HOSTS, REMOTE, WAIT, b_receiver, mx_zone

BOB = "bob@" + REMOTE
NOBODY = "nobody@" + REMOTE
SENDER = "sender@" + VDOMAIN
# address_verify_sender: double_bounce_sender@$myorigin
PROBE_SENDER = "double-bounce@" + VDOMAIN


def relay_a(mta, srv, port, restrictions, **params):
    a = mta("a.ostia.test").use_dns(srv, port)
    a.params["relay_domains"] = REMOTE
    a.params["relay_transport"] = "smtp"
    a.params["smtpd_recipient_restrictions"] = restrictions
    a.params.update(params)
    a.start()
    return a


def session(a):
    s = smtplib.SMTP("127.0.0.1", a.o.port, local_hostname="client.test",
                     timeout=WAIT)
    s.ehlo()
    return s


def close(s):
    try:
        s.quit()
    except (smtplib.SMTPException, OSError):
        s.close()


def rcpt(s, a, sender, to):
    """MAIL (sender) and RCPT (to); the RCPT reply as (code, text)."""
    code, resp = s.mail(sender)
    assert code == 250, (code, resp, a.diag())
    code, resp = s.rcpt(to)
    return code, resp.decode("utf-8", "replace")


def test_unverified_recipient_probe_then_cache(mta, ostia_factory, dns,
                                               port):
    srv = dns({REMOTE: mx_zone()})
    b = b_receiver(ostia_factory).listen(MX_HOSTS["mx1"], port)
    b.start()
    a = relay_a(mta, srv, port, "reject_unverified_recipient, "
                "permit_mynetworks, reject_unauth_destination")
    tok = token()
    s = session(a)
    try:
        code, text = rcpt(s, a, SENDER, BOB)
        assert code == 250, (code, text, a.diag())
        code, text = s.rcpt(NOBODY)
        text = text.decode()
        assert code == 450, (code, text, a.diag())
        # Postfix's words, with the probe's result after them.
        assert re.match(r"4\.1\.1 <%s>: Recipient address rejected: "
                        r"undeliverable address: host "
                        r"mx1\.remote\.test\[127\.0\.0\.2\]:\d+ said: 550 "
                        r"5\.1\.1 " % re.escape(NOBODY), text), text
        assert "in reply to RCPT TO command" in text, text
        code, resp = s.data(make_message(tok, sender=SENDER, to=BOB))
        assert code == 250, (code, resp, a.diag())
    finally:
        close(s)
    [path] = b.wait_messages(BOB, 1, tok)
    a.wait_queue_empty()
    log = a.o.log_text()
    assert re.search(r"address verification probe for <%s> "
                     r"\(service " % re.escape(BOB), log), a.diag()
    assert re.search(r"to=<%s>, relay=mx1\.remote\.test.*"
                     r"status=deliverable \(deliverable: host "
                     % re.escape(BOB), log), a.diag()
    assert re.search(r"address verification of <%s>: undeliverable "
                     % re.escape(NOBODY), log), a.diag()
    # The probes went as far as RCPT, from the probe sender, and never
    # delivered: B holds only the real message, and B saw no DATA from
    # a probe (its refusal names the probe's sender).
    assert len(b.messages(BOB)) == 1, b.diag()
    assert re.search(r"reject: RCPT from \S+: 550 5\.1\.1 <%s>: .*"
                     r"from=<%s> to=<%s>" % (re.escape(NOBODY),
                                             re.escape(PROBE_SENDER),
                                             re.escape(NOBODY)),
                     b.o.log_text()), b.diag()
    # The second time the cache answers: no new probe.
    probes = len(re.findall(r"verification probe for <%s>"
                            % re.escape(NOBODY), log))
    assert probes == 1, log
    s = session(a)
    try:
        code, text = rcpt(s, a, SENDER, NOBODY)
        assert code == 450 and "undeliverable address" in text, \
            (code, text)
    finally:
        close(s)
    a.wait_log(r"reject: RCPT from .*450 4\.1\.1 <%s>: Recipient address "
               r"rejected: undeliverable address" % re.escape(NOBODY))
    log = a.o.log_text()
    assert len(re.findall(r"verification probe for <%s>"
                          % re.escape(NOBODY), log)) == 1, log


def test_unverified_pending_then_known(mta, ostia_factory, dns, port):
    """address_verify_poll_count = 1: smtpd does not wait; the first
    query is "in progress", the next one has the probe's result."""
    srv = dns({REMOTE: mx_zone()})
    b = b_receiver(ostia_factory).listen(MX_HOSTS["mx1"], port)
    b.start()
    a = relay_a(mta, srv, port, "reject_unverified_recipient, "
                "permit_mynetworks, reject_unauth_destination",
                address_verify_poll_count="1")
    s = session(a)
    try:
        code, text = rcpt(s, a, SENDER, BOB)
        assert code == 450, (code, text, a.diag())
        assert text == ("4.1.1 <%s>: Recipient address rejected: "
                        "unverified address: Address verification in "
                        "progress" % BOB), text
    finally:
        close(s)
    a.wait_log(r"address verification of <%s>: deliverable"
               % re.escape(BOB))
    s = session(a)
    try:
        code, text = rcpt(s, a, SENDER, BOB)
        assert code == 250, (code, text, a.diag())
    finally:
        close(s)
    a.wait_queue_empty()
    assert b.messages(BOB) == [], b.diag()


def test_unverified_tempfail_defer_if_permit(mta, dns, port):
    """A probe that cannot reach the MX (nothing listens there) is a
    temporary result: defer_if_permit gives 450 when the rest of the
    list permits, with the probe's words."""
    srv = dns({REMOTE: mx_zone()})
    a = relay_a(mta, srv, port, "reject_unverified_recipient, "
                "permit_mynetworks, reject_unauth_destination")
    s = session(a)
    try:
        code, text = rcpt(s, a, SENDER, BOB)
        assert code == 450, (code, text, a.diag())
        assert re.match(r"4\.\d\.\d <%s>: Recipient address rejected: "
                        r"unverified address: .*127\.0\.0\.2" %
                        re.escape(BOB), text), text
    finally:
        close(s)
    a.wait_log(r"address verification of <%s>: deferred"
               % re.escape(BOB))
    a.wait_queue_empty()


def test_unverified_sender_virtual_domain(mta, dns, port):
    """reject_unverified_sender for senders in A's own virtual mailbox
    domain: the virtual agent answers the probe from
    virtual_mailbox_maps, and writes nothing."""
    srv = dns({REMOTE: mx_zone()})
    a = relay_a(mta, srv, port, "permit_mynetworks, "
                "reject_unauth_destination",
                smtpd_sender_restrictions="reject_unverified_sender")
    before = maildir_files(a.maildir(SENDER))
    s = session(a)
    try:
        # smtpd_delay_reject = yes: the sender is judged at RCPT.
        code, text = rcpt(s, a, SENDER, "alice@" + VDOMAIN)
        assert code == 250, (code, text, a.diag())
        s.rset()
        code, text = rcpt(s, a, "ghost@" + VDOMAIN, "alice@" + VDOMAIN)
        assert code == 450, (code, text, a.diag())
        assert text.startswith("4.1.1 <ghost@%s>: Sender address "
                               "rejected: undeliverable address: "
                               % VDOMAIN), text
    finally:
        close(s)
    a.wait_log(r"to=<%s>, relay=virtual.*status=deliverable "
               r"\(deliverable to maildir " % re.escape(SENDER))
    a.wait_queue_empty()
    time.sleep(0.2)
    assert maildir_files(a.maildir(SENDER)) == before, a.diag()
