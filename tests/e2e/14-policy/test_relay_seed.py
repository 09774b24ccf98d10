# SPDX-License-Identifier: MIT
"""The relay-trick battery against the seed deployment's restriction
lists (/work/shared/seed: iRedMail on Postfix 2.11), and the DNS-based
restrictions while Ostia has no resolver.

policy_e2e.seed() writes the seed's lists with texthash/pcre tables
for the MySQL ones and without its check_policy_service entries
(test_policy.py puts a policy server there):

  smtpd_helo_required = yes
  smtpd_helo_restrictions = permit_mynetworks, permit_sasl_authenticated,
      reject_non_fqdn_helo_hostname, reject_invalid_helo_hostname,
      check_helo_access pcre:helo_access.pcre
  smtpd_sender_restrictions = permit_mynetworks,
      reject_sender_login_mismatch, permit_sasl_authenticated
  smtpd_recipient_restrictions = [reject_unknown_sender_domain,
      reject_unknown_recipient_domain,] reject_non_fqdn_sender,
      reject_non_fqdn_recipient, reject_unlisted_recipient,
      permit_mynetworks, permit_sasl_authenticated,
      reject_unauth_destination
  smtpd_data_restrictions = reject_unauth_pipelining
  smtpd_reject_unlisted_recipient = yes, smtpd_reject_unlisted_sender = yes
  allow_percent_hack = no, swap_bangpath = no
  relay_domains = $mydestination, texthash (relayed.example)

smtpd_relay_restrictions is not set in the seed, so Postfix's default
applies and is evaluated first (454 for a relay attempt); with it set
empty (Postfix 2.x behaviour) the seed's reject_unauth_destination is
the guard.  mynetworks = 127.0.0.1/32: the client connects from
127.0.0.2 to be an outsider.

DNS: reject_unknown_sender_domain / reject_unknown_recipient_domain
while DNS gives no answers (a server that refuses every query: the
DNS variant's dns_resolvers) must give a temporary failure
(defer_if_permit: only when the mail would otherwise be accepted),
never a pass.  The battery runs on the variant without them; the DNS
variant has its own tests (19-smtpd-dns has the answers).

Also the seed's master.cf services: submission (client restrictions
permit_mynetworks, permit_sasl_authenticated, reject) and the content
filter's re-injection listener (only mynetworks, no recipient checks).
"""

import re

import pytest

import relay_tricks
from dns_server import DnsServer
from policy_e2e import (ELSEWHERE, HOSTED, INSIDER, OUTSIDER, RELAYED, Setup,
                        Smtp, assert_no_data, assert_nothing_new,
                        assert_reply, client_re, envelope_recipients, queue_files,
                        reject_logged, seed, send_message, try_rcpt)

# ---------------------------------------------------------------- replies
ACCEPTED = "250 2.1.5 Ok"
RELAY_DEFER = "454 4.7.1 <{rcpt}>: Relay access denied"
RELAY_REJECT = "554 5.7.1 <{rcpt}>: Relay access denied"
UNKNOWN_VIRTUAL = ("550 5.1.1 <{rcpt}>: Recipient address rejected: "
                   "User unknown in virtual mailbox table")
UNKNOWN_LOCAL = ("550 5.1.1 <{rcpt}>: Recipient address rejected: "
                 "User unknown in local recipient table")
NON_FQDN_RCPT = ("504 5.5.2 <{rcpt}>: Recipient address rejected: "
                 "need fully-qualified address")
CLIENT_REJECT = "554 5.7.1 <{client}>: Client host rejected: Access denied"
SYNTAX = re.compile(r"\A501 5\.1\.3 ")
REFUSED = re.compile(r"\A[45]\d\d ")
# A DNS-based restriction while DNS is not available: a temporary
# failure whose text says DNS (Ostia today: "450 4.4.3 <addr>: Sender
# address rejected: cannot check reject_unknown_sender_domain: DNS
# lookups are not available yet").
DNS_TEMPFAIL = re.compile(r"\A45[01] 4\.\d{1,3}\.\d{1,3} .*\bDNS\b", re.I)

SENDER = "someone@" + ELSEWHERE
ALICE = "alice@" + HOSTED

BATTERY = relay_tricks.expanded([HOSTED])


@pytest.fixture(scope="module")
def refusing_dns(tmp_path_factory):
    """A DNS server that refuses every query (see the module comment)."""
    with DnsServer(str(tmp_path_factory.mktemp("dns")), {},
                   refuse_all=True) as d:
        yield d


def seed_server(factory, dns=None, master_cf=None, **params):
    """dns: None, or the refusing DnsServer for the DNS variant."""
    s = seed(Setup(factory, master_cf=master_cf), dns=dns is not None)
    if dns is not None:
        s.update({"dns_resolvers": dns.resolvers})
    s.update(params)
    return s.start()


def attempt(o, path, sender=SENDER, source=OUTSIDER, auth=None):
    """One session; returns (stage, reply) of MAIL/RCPT and checks that
    a refused recipient leaves nothing queued."""
    before = queue_files(o)
    s = Smtp(o, source=source)
    s.ehlo()
    if auth:
        s.auth(auth)
    stage, r = try_rcpt(s, sender, path)
    if r.code >= 400:
        if stage == "RCPT":
            assert_no_data(s)
        s.quit()
        assert_nothing_new(o, before, "RCPT TO:%s" % path)
    else:
        s.quit()
    return stage, r


# ---------------------------------------------------------------- battery

@pytest.mark.parametrize("tid,trick,path,names", BATTERY,
                         ids=[b[0] for b in BATTERY])
def test_seed_trick_refused(ostia_factory, tid, trick, path, names):
    """Default smtpd_relay_restrictions first: 454."""
    o = seed_server(ostia_factory)
    mark = o.log_mark()
    stage, r = attempt(o, path)
    assert stage == "RCPT", r
    assert_reply(r, [RELAY_DEFER, SYNTAX] if trick.syntax else RELAY_DEFER,
                 "RCPT TO:%s" % path, rcpt=names)
    if r.code == 454:
        reject_logged(o, mark, "RCPT", OUTSIDER, r, names)


@pytest.mark.parametrize("tid,trick,path,names", BATTERY,
                         ids=[b[0] for b in BATTERY])
def test_seed_trick_refused_by_recipient_list(ostia_factory, tid, trick,
                                              path, names):
    """smtpd_relay_restrictions empty (Postfix 2.x): the seed's
    recipient list alone guards; whichever of its restrictions refuses
    first, the trick is not accepted."""
    o = seed_server(ostia_factory, smtpd_relay_restrictions="")
    stage, r = attempt(o, path)
    assert stage == "RCPT", r
    assert_reply(r, [RELAY_REJECT, UNKNOWN_VIRTUAL, UNKNOWN_LOCAL,
                     NON_FQDN_RCPT, SYNTAX], "RCPT TO:%s" % path, rcpt=names)


@pytest.mark.parametrize("path", [
    "<alice@%s>" % HOSTED,
    "<postmaster@%s>" % HOSTED,
    "<Postmaster>",
    "<fwd@%s>" % HOSTED,          # alias pointing outside: domain is ours
    "<user@%s>" % RELAYED,        # relay_domains, no relay_recipient_maps
], ids=["mailbox", "postmaster", "bare-postmaster", "alias-outside",
        "relay-domain"])
def test_seed_accepts_from_outsider(ostia_factory, path):
    o = seed_server(ostia_factory)
    s = Smtp(o, source=OUTSIDER)
    s.ehlo()
    qid = send_message(s, SENDER, [path])
    s.quit()
    assert envelope_recipients(o, qid)


def test_seed_unknown_user(ostia_factory):
    o = seed_server(ostia_factory)
    stage, r = attempt(o, "<nobody@%s>" % HOSTED)
    assert stage == "RCPT"
    assert_reply(r, UNKNOWN_VIRTUAL, rcpt="nobody@" + HOSTED)


def test_seed_mynetworks_and_authenticated_may_relay(ostia_factory):
    o = seed_server(ostia_factory)
    s = Smtp(o, source=INSIDER)
    s.ehlo()
    send_message(s, SENDER, ["<user@%s>" % ELSEWHERE])
    s.quit()
    s = Smtp(o, source=OUTSIDER)
    s.ehlo()
    s.auth(ALICE)
    send_message(s, ALICE, ["<user@%s>" % ELSEWHERE])
    s.quit()


# ---------------------------------------------------------------- DNS

def test_dns_restriction_defers_acceptable_mail(ostia_factory, refusing_dns):
    """An otherwise acceptable message (outsider -> our mailbox, sender
    in a remote domain) gets a temporary failure naming DNS, never 250;
    nothing is queued; the refusal is logged."""
    o = seed_server(ostia_factory, dns=refusing_dns)
    mark = o.log_mark()
    stage, r = attempt(o, "<%s>" % ALICE)
    assert stage == "RCPT", r
    assert_reply(r, DNS_TEMPFAIL, "RCPT TO:<%s>" % ALICE)
    reject_logged(o, mark, "RCPT", OUTSIDER, r, [ALICE])


def test_dns_restriction_spares_the_null_sender(ostia_factory, refusing_dns):
    """Postfix skips reject_unknown_sender_domain for <> and
    reject_unknown_recipient_domain for our own (final) domains: a
    bounce to our mailbox needs no DNS and is accepted."""
    o = seed_server(ostia_factory, dns=refusing_dns)
    s = Smtp(o, source=OUTSIDER)
    s.ehlo()
    send_message(s, "", ["<%s>" % ALICE])
    s.quit()


def test_dns_restriction_does_not_hide_unknown_user(ostia_factory,
                                                    refusing_dns):
    """defer_if_permit: a later reject wins over the DNS deferral."""
    o = seed_server(ostia_factory, dns=refusing_dns)
    stage, r = attempt(o, "<nobody@%s>" % HOSTED)
    assert_reply(r, UNKNOWN_VIRTUAL, rcpt="nobody@" + HOSTED)


@pytest.mark.parametrize("sender,path,source,auth", [
    # The seed checks DNS before permit_mynetworks ...
    (SENDER, "<user@%s>" % ELSEWHERE, INSIDER, None),
    # ... and before permit_sasl_authenticated (recipient domain).
    (ALICE, "<user@%s>" % ELSEWHERE, OUTSIDER, ALICE),
    # A relay domain is not final: its recipient domain is checked.
    ("", "<user@%s>" % RELAYED, OUTSIDER, None),
], ids=["mynetworks", "authenticated", "relay-domain"])
def test_dns_restriction_defers(ostia_factory, refusing_dns, sender, path,
                                source, auth):
    o = seed_server(ostia_factory, dns=refusing_dns)
    stage, r = attempt(o, path, sender=sender, source=source, auth=auth)
    assert stage == "RCPT", r
    assert_reply(r, DNS_TEMPFAIL, "RCPT TO:%s" % path)


DNS_TRICKS = [b for b in BATTERY if b[0].split("@")[0] in
              ("plain", "percent-hack", "quoted-at", "source-route",
               "literal-remote", "bang-path-bare")]


@pytest.mark.parametrize("tid,trick,path,names", DNS_TRICKS,
                         ids=[b[0] for b in DNS_TRICKS])
def test_dns_variant_trick_refused(ostia_factory, refusing_dns, tid, trick,
                                   path, names):
    o = seed_server(ostia_factory, dns=refusing_dns)
    stage, r = attempt(o, path)
    assert_reply(r, REFUSED, "RCPT TO:%s" % path)


# ---------------------------------------------------------------- master.cf

SUBMISSION_MASTER = (
    "127.0.0.1:@port:smtp@ inet n - n - - smtpd\n"
    "127.0.0.1:@port:submission@ inet n - n - - smtpd\n"
    "  -o smtpd_sasl_auth_enable=yes\n"
    "  -o smtpd_client_restrictions=permit_mynetworks,"
    "permit_sasl_authenticated,reject\n")


def test_submission_service(ostia_factory):
    """The seed's submission service: an outsider that did not log in
    is refused even for our own mailbox (client restriction, shown at
    RCPT); after AUTH it may relay."""
    o = seed_server(ostia_factory, master_cf=SUBMISSION_MASTER)
    before = queue_files(o)
    mark = o.log_mark()
    s = Smtp(o, source=OUTSIDER, service="submission")
    s.ehlo()
    stage, r = try_rcpt(s, SENDER, "<%s>" % ALICE)
    assert stage == "RCPT", r
    assert_reply(r, CLIENT_REJECT, client=client_re(OUTSIDER))
    s.quit()
    assert_nothing_new(o, before)
    reject_logged(o, mark, "RCPT", OUTSIDER, r, [ALICE])
    s = Smtp(o, source=OUTSIDER, service="submission")
    s.ehlo()
    s.auth(ALICE)
    send_message(s, ALICE, ["<user@%s>" % ELSEWHERE])
    s.quit()


REINJECT_MASTER = (
    "127.0.0.1:@port:smtp@ inet n - n - - smtpd\n"
    "127.0.0.1:@port:reinject@ inet n - n - - smtpd\n"
    "  -o content_filter=\n"
    "  -o mynetworks_style=host\n"
    "  -o mynetworks=127.0.0.1/32\n"
    "  -o local_recipient_maps=\n"
    "  -o relay_recipient_maps=\n"
    "  -o strict_rfc821_envelopes=yes\n"
    "  -o smtpd_restriction_classes=\n"
    "  -o smtpd_delay_reject=no\n"
    "  -o smtpd_client_restrictions=permit_mynetworks,reject\n"
    "  -o smtpd_helo_restrictions=\n"
    "  -o smtpd_sender_restrictions=\n"
    "  -o smtpd_recipient_restrictions=permit_mynetworks,reject\n"
    "  -o smtpd_end_of_data_restrictions=\n"
    "  -o smtpd_error_sleep_time=0\n"
    "  -o receive_override_options=no_header_body_checks,"
    "no_unknown_recipient_checks,no_address_mappings\n")


def test_reinjection_listener_only_for_mynetworks(ostia_factory):
    """The content filter's listener (seed: 127.0.0.1:10025): a client
    outside its mynetworks is refused before RCPT (smtpd_delay_reject =
    no); from 127.0.0.1 anything goes, unknown recipients too
    (no_unknown_recipient_checks)."""
    o = seed_server(ostia_factory, master_cf=REINJECT_MASTER)
    before = queue_files(o)
    s = Smtp(o, source=OUTSIDER, service="reinject")
    refused = None
    if s.greeting.code != 220:
        refused = s.greeting
    else:
        r = s.cmd("EHLO " + "filter.example")
        if r.code != 250:
            refused = r
        else:
            r = s.mail(SENDER)
            refused = r if r.code != 250 else None
            if refused is None:
                r = s.rcpt("<%s>" % ALICE)
                assert r.code >= 400, "outsider got RCPT %r" % r
                raise AssertionError("smtpd_delay_reject = no: the client "
                                     "refusal came only at RCPT: %r" % r)
    assert_reply(refused, CLIENT_REJECT, "outsider on the re-injection "
                 "listener", client=client_re(OUTSIDER))
    s.quit()
    assert_nothing_new(o, before)
    s = Smtp(o, source=INSIDER, service="reinject")
    s.ehlo("filter.example")
    qid = send_message(s, SENDER, ["<user@%s>" % ELSEWHERE,
                                   "<nobody@%s>" % HOSTED])
    s.quit()
    assert len(envelope_recipients(o, qid)) == 2
