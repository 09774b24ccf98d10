# SPDX-License-Identifier: MIT
"""The seed's content-filter loop, end to end (issue 9's "Ostia ->
filter on 10024 -> Ostia re-injection on 10025 -> Maildir"), on free
loopback ports:

  main.cf    content_filter = smtp-amavis:[127.0.0.1]:FPORT
             smtp-amavis_destination_recipient_limit = 1
  master.cf  smtp-amavis unix - - n - 2 smtp
               -o smtp_data_done_timeout=1200
               -o disable_dns_lookups=yes
               -o smtp_helo_name=amavis-client.test  (not in the seed:
                  shows that the service's -o settings are applied)
             127.0.0.1:RPORT inet n - n - - smtpd
               -o content_filter=
               -o receive_override_options=no_header_body_checks,
                  no_unknown_recipient_checks
               -o mynetworks=127.0.0.0/8
               -o smtpd_recipient_restrictions=permit_mynetworks,reject

The filter (outbound_e2e.ContentFilter, standing in for amavis) takes
each message on FPORT, re-sends it with an X-Virus-Scanned: header to
RPORT and only then answers 250.  Each local mailbox gets exactly one
copy, with the filter's header; nothing loops back into the filter.
"""

import re
import subprocess

import pytest

from delivery_e2e import SENDER, VDOMAIN, settle, token
from outbound_e2e import ContentFilter, message_for, no_more_copies

ALICE = "alice@" + VDOMAIN
BOB = "bob@" + VDOMAIN

MASTER_EXTRA = (
    "smtp-amavis unix - - n - 2 smtp\n"
    "  -o smtp_data_done_timeout=1200\n"
    "  -o disable_dns_lookups=yes\n"
    "  -o smtp_helo_name=amavis-client.test\n"
    "127.0.0.1:@port:reinject@ inet n - n - - smtpd\n"
    "  -o content_filter=\n"
    "  -o receive_override_options=no_header_body_checks,"
    "no_unknown_recipient_checks\n"
    "  -o mynetworks=127.0.0.0/8\n"
    "  -o smtpd_recipient_restrictions=permit_mynetworks,reject\n")


def test_filter_loop_one_copy_with_header(mta, peer, dns):
    tok = token()
    f = peer(cls=ContentFilter, header="scanned by the test filter " + tok)
    a = mta("a.ostia.test")
    a.params["dns_resolvers"] = dns({}).resolvers
    a.master_extra = MASTER_EXTRA
    a.params.update({
        "content_filter": "smtp-amavis:[127.0.0.1]:%d" % f.port,
        "smtp-amavis_destination_recipient_limit": "1",
    })
    a.start()
    f.reinject_port = a.o.ports["reinject"]
    a.send([ALICE, BOB], message_for(tok, ALICE))
    for rcpt in (ALICE, BOB):
        [path] = a.wait_messages(rcpt, 1, tok)
        with open(path, "rb") as fh:
            data = fh.read()
        assert ("X-Virus-Scanned: scanned by the test filter %s" % tok
                ).encode() in data, \
            "the copy in %s's Maildir did not pass the filter" % rcpt
        assert ("Hello, this is %s." % tok).encode() in data
    # The hand-off to the filter went through the smtp-amavis service.
    for rcpt in (ALICE, BOB):
        line = a.wait_sent(rcpt, "127.0.0.1", "127.0.0.1", f.port).group(0)
        assert "re-injected by the test filter" in line, line
    a.wait_queue_empty()
    settle(3)
    no_more_copies(a, ALICE, tok)
    no_more_copies(a, BOB, tok)
    # Recipient limit 1: one filter transaction per recipient, and each
    # re-injected message went to its final delivery, not to the filter.
    assert len(f.completed()) == 2, f.describe()
    assert len(f.reinjected) == 2 and not f.reinject_errors, \
        (f.reinjected, f.reinject_errors)
    assert all(len(t["rcpts"]) == 1 for t in f.transactions), f.describe()
    # The service's own -o smtp_helo_name, not main.cf's.
    assert f.ehlo and set(f.ehlo) == {"amavis-client.test"}, f.describe()
    assert not a.messages(SENDER), a.diag()


def test_filter_down_defers(mta, peer, dns):
    """The filter is not running: the message waits in the queue
    (deferred), it is neither delivered unfiltered nor bounced."""
    import ostia_harness
    dead = ostia_harness.free_port()
    a = mta("a.ostia.test")
    a.params["dns_resolvers"] = dns({}).resolvers
    a.master_extra = MASTER_EXTRA
    a.params["content_filter"] = "smtp-amavis:[127.0.0.1]:%d" % dead
    a.start()
    tok = token()
    qid = a.send(ALICE, message_for(tok, ALICE))
    line = a.wait_status(ALICE, "deferred").group(0)
    assert re.search(r"refused", line, re.I), line
    a.wait_deferred_in_queue(qid)
    assert not a.messages(ALICE), "delivered without the filter:\n" \
        + a.diag()
    a.assert_no_status(ALICE, "bounced")


@pytest.mark.parametrize("pickup_override", [False, True])
def test_local_submission_passes_the_filter(mta, peer, dns, tmp_path,
                                            pickup_override):
    """Mail submitted with the sendmail command (cron, scripts, web
    applications) goes through content_filter as mail received over SMTP
    does -- in Postfix the pickup adds the filter -- unless the pickup
    service of master.cf says -o content_filter= ."""
    from ostia_harness import ostia_bin
    tok = token()
    f = peer(cls=ContentFilter, header="scanned by the test filter " + tok)
    a = mta("a.ostia.test")
    a.params["dns_resolvers"] = dns({}).resolvers
    a.master_extra = MASTER_EXTRA
    if pickup_override:
        a.master_extra += ("pickup unix n - n 60 1 pickup\n"
                           "  -o content_filter=\n")
    a.params["content_filter"] = "smtp-amavis:[127.0.0.1]:%d" % f.port
    a.start()
    f.reinject_port = a.o.ports["reinject"]
    sendmail = tmp_path / "sendmail"
    sendmail.symlink_to(ostia_bin())
    r = subprocess.run([str(sendmail), "-C", a.o.confdir, "-i", ALICE],
                       input=message_for(tok, ALICE),
                       capture_output=True, timeout=60)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    [path] = a.wait_messages(ALICE, 1, tok)
    with open(path, "rb") as fh:
        data = fh.read()
    scanned = ("X-Virus-Scanned: scanned by the test filter %s" % tok
               ).encode() in data
    a.wait_queue_empty()
    if pickup_override:
        assert not scanned and not f.transactions, f.describe()
    else:
        assert scanned, "the local submission skipped the filter:\n" + \
            data.decode(errors="replace")
        assert len(f.completed()) == 1, f.describe()
        line = a.wait_sent(ALICE, "127.0.0.1", "127.0.0.1", f.port).group(0)
        assert "re-injected by the test filter" in line, line
