# SPDX-License-Identifier: MIT
"""The relay-trick battery against the DEFAULT configuration (issue 7,
item 3: secure defaults).

No restriction list is set, so smtpd_relay_restrictions has Postfix's
default (permit_mynetworks, permit_sasl_authenticated,
defer_unauth_destination) and smtpd_reject_unlisted_recipient = yes.
mynetworks = 192.0.2.0/24, so the test client (127.0.0.1) is an
outsider.  Our domains (policy_e2e.hosting): ours.example in
mydestination, hosted.example a virtual mailbox domain (texthash).

Every trick of tests/e2e/relay_tricks.py, against each of our domains,
must be refused (454 4.7.1 Relay access denied; forms the address
parser refuses may get 501 5.1.3), nothing may be queued, and the log
must name the client, the reply and the recipient.  Positive controls:
our users, postmaster@ each domain and the bare <Postmaster>, an alias
of ours that points outside (accepted: the recipient domain is ours, as
in Postfix), our own interface's address literal; relaying from
mynetworks.
"""

import os
import re

import pytest

import relay_tricks
from policy_e2e import (ELSEWHERE, HOSTED, OURS, Setup, Smtp, assert_no_data,
                        assert_nothing_new, assert_reply, envelope_recipients,
                        hosting, queue_files, reject_logged, send_message)

# ---------------------------------------------------------------- replies
# The replies these tests expect; {rcpt} is the recipient as the client
# wrote it (or a form listed in relay_tricks.Trick.names).
ACCEPTED = "250 2.1.5 Ok"
RELAY_DEFER = "454 4.7.1 <{rcpt}>: Relay access denied"    # defer_unauth_destination
RELAY_REJECT = "554 5.7.1 <{rcpt}>: Relay access denied"   # reject_unauth_destination
RELAY_REJECT_550 = "550 5.7.1 <{rcpt}>: Relay access denied"  # relay_domains_reject_code = 550
UNKNOWN_VIRTUAL = ("550 5.1.1 <{rcpt}>: Recipient address rejected: "
                   "User unknown in virtual mailbox table")
UNKNOWN_LOCAL = ("550 5.1.1 <{rcpt}>: Recipient address rejected: "
                 "User unknown in local recipient table")
# The envelope parser refused the form (not a relay either).
SYNTAX = re.compile(r"\A501 5\.1\.3 ")
# Any refusal at all.
REFUSED = re.compile(r"\A[45]\d\d ")

SENDER = "someone@" + ELSEWHERE
CLIENT = "127.0.0.1"

BATTERY = relay_tricks.expanded([OURS, HOSTED])


def default_server(factory, **params):
    s = hosting(Setup(factory))
    s.update(params)
    return s.start()


def refused_once(o, path, names, expected, log_relay=True):
    """One session: MAIL, RCPT path -> expected; DATA refused; nothing
    queued; the reject logged with the client, reply and recipient."""
    before = queue_files(o)
    mark = o.log_mark()
    s = Smtp(o)
    s.ehlo()
    r = s.mail(SENDER)
    assert r.code == 250, r
    r = s.rcpt(path)
    assert_reply(r, expected, "RCPT TO:%s" % path, rcpt=names)
    assert_no_data(s)
    s.quit()
    assert_nothing_new(o, before, "RCPT TO:%s" % path)
    if log_relay and "Relay access denied" in r.raw[-1]:
        reject_logged(o, mark, "RCPT", CLIENT, r, names)
    return r


# ---------------------------------------------------------------- tricks

@pytest.mark.parametrize("tid,trick,path,names", BATTERY,
                         ids=[b[0] for b in BATTERY])
def test_trick_refused_from_outsider(ostia_factory, tid, trick, path, names):
    o = default_server(ostia_factory)
    expected = [RELAY_DEFER, SYNTAX] if trick.syntax else RELAY_DEFER
    refused_once(o, path, names, expected)


def test_all_tricks_in_one_transaction(ostia_factory):
    """A good recipient and every trick in one transaction: only the
    good one is queued."""
    o = default_server(ostia_factory)
    before = queue_files(o)
    s = Smtp(o)
    s.ehlo()
    assert s.mail(SENDER).code == 250
    assert_reply(s.rcpt("<user@%s>" % HOSTED), ACCEPTED)
    for tid, trick, path, names in BATTERY:
        r = s.rcpt(path)
        assert_reply(r, [RELAY_DEFER, SYNTAX] if trick.syntax
                     else RELAY_DEFER, "%s: RCPT TO:%s" % (tid, path),
                     rcpt=names)
    r, final = s.data()
    assert r.code == 354, r
    qid = re.match(r"250 2\.0\.0 Ok: queued as ([0-9A-Z]{16})\Z",
                   final.raw[-1])
    assert qid, final
    s.quit()
    new = sorted(set(queue_files(o)) - set(before))
    assert new == [qid.group(1)], new
    assert [a.lower() for a in envelope_recipients(o, new[0])] == \
        ["user@" + HOSTED], envelope_recipients(o, new[0])


# ---------------------------------------------------------------- controls

ACCEPTED_ROWS = [
    # (id, RCPT TO path, acceptable envelope recipients; None: any)
    ("local-user", "<user@%s>" % OURS, ["user@" + OURS]),
    ("virtual-user", "<user@%s>" % HOSTED, ["user@" + HOSTED]),
    ("virtual-user-case", "<User@Hosted.Example>", ["user@" + HOSTED]),
    ("virtual-user-extension", "<user+tag@%s>" % HOSTED,
     ["user+tag@" + HOSTED]),
    ("postmaster-local", "<postmaster@%s>" % OURS, None),
    ("postmaster-virtual", "<postmaster@%s>" % HOSTED, None),
    ("postmaster-virtual-upper", "<POSTMASTER@%s>" % HOSTED.upper(), None),
    ("bare-Postmaster", "<Postmaster>", None),
    ("bare-postmaster", "<postmaster>", None),
    # An alias of ours that points outside: Postfix accepts it (the
    # recipient domain is ours; virtual_alias_maps is searched for every
    # address class).  The envelope may hold the alias or its target.
    ("alias-outside-virtual", "<fwd@%s>" % HOSTED,
     ["fwd@" + HOSTED, "someone@" + ELSEWHERE]),
    ("alias-outside-local", "<fwd@%s>" % OURS,
     ["fwd@" + OURS, "someone@" + ELSEWHERE]),
    # Our own interface's address literal is local (inet_interfaces =
    # 127.0.0.1 in the harness).
    ("own-interface-literal", "<user@[127.0.0.1]>", ["user@[127.0.0.1]"]),
]


@pytest.mark.parametrize("path,rcpts", [(p, r) for _, p, r in ACCEPTED_ROWS],
                         ids=[i for i, _, _ in ACCEPTED_ROWS])
def test_accepted_from_outsider(ostia_factory, path, rcpts):
    o = default_server(ostia_factory)
    before = queue_files(o)
    s = Smtp(o)
    s.ehlo()
    assert s.mail(SENDER).code == 250
    assert_reply(s.rcpt(path), ACCEPTED, "RCPT TO:%s" % path)
    r, final = s.data()
    assert r.code == 354, r
    qid = re.match(r"250 2\.0\.0 Ok: queued as ([0-9A-Z]{16})\Z",
                   final.raw[-1])
    assert qid, final
    s.quit()
    assert sorted(set(queue_files(o)) - set(before)) == [qid.group(1)]
    got = [a.lower() for a in envelope_recipients(o, qid.group(1))]
    assert got, "no recipient record"
    if rcpts is not None:
        assert set(got) <= {a.lower() for a in rcpts}, got


@pytest.mark.parametrize("path,expected", [
    ("<nobody@%s>" % HOSTED, UNKNOWN_VIRTUAL),
    ("<nobody@%s>" % OURS, UNKNOWN_LOCAL),
    ("<nobody+tag@%s>" % HOSTED, UNKNOWN_VIRTUAL),
], ids=["virtual", "local", "virtual-extension"])
def test_unknown_user_in_our_domains(ostia_factory, path, expected):
    """smtpd_reject_unlisted_recipient = yes by default."""
    o = default_server(ostia_factory)
    mark = o.log_mark()
    r = refused_once(o, path, [path[1:-1]], expected)
    reject_logged(o, mark, "RCPT", CLIENT, r, [path[1:-1]])


# ---------------------------------------------------------------- mynetworks

MYNET_PATHS = ["<user@elsewhere.example>", "<USER@ELSEWHERE.EXAMPLE>",
               "<user%%elsewhere.example@%s>" % OURS,
               "<@%s:user@elsewhere.example>" % HOSTED,
               "<user@[192.0.2.1]>"]


def test_mynetworks_may_relay(ostia_factory):
    """permit_mynetworks: the same addresses are accepted from
    mynetworks (127.0.0.0/8 here) and queued."""
    o = default_server(ostia_factory, mynetworks="127.0.0.0/8")
    s = Smtp(o)
    s.ehlo()
    qid = send_message(s, SENDER, MYNET_PATHS)
    s.quit()
    assert len(envelope_recipients(o, qid)) == len(MYNET_PATHS)


def test_mynetworks_unknown_local_user_still_refused(ostia_factory):
    """smtpd_reject_unlisted_recipient applies to mynetworks too."""
    o = default_server(ostia_factory, mynetworks="127.0.0.0/8")
    refused_once(o, "<nobody@%s>" % HOSTED, ["nobody@" + HOSTED],
                 UNKNOWN_VIRTUAL)


@pytest.mark.parametrize("networks,relays", [
    ("127.0.0.0/8   listed\n", True),
    ("127.0.0.2/32  another loopback host\n192.0.2.0/24 x\n", False),
], ids=["client-listed", "client-not-listed"])
def test_mynetworks_cidr_table(ostia_factory, networks, relays):
    """mynetworks may name a cidr: table (Postfix's
    "mynetworks = cidr:/etc/postfix/network_table"): the client's
    address is looked up in it, whatever the value says."""
    setup = hosting(Setup(ostia_factory))
    table = setup.table("mynetworks.cidr", networks, kind="cidr")
    setup.update({"mynetworks": "192.0.2.0/24, " + table})
    o = setup.start()
    if relays:
        s = Smtp(o)
        s.ehlo()
        qid = send_message(s, SENDER, MYNET_PATHS)
        s.quit()
        assert len(envelope_recipients(o, qid)) == len(MYNET_PATHS)
    else:
        path = MYNET_PATHS[0]
        refused_once(o, path, [path[1:-1]], RELAY_DEFER)


def test_mynetworks_table_inline_and_negated(ostia_factory):
    """"!inline:{...}" before a network: the first element that decides
    wins, as for the other elements of the list."""
    o = default_server(ostia_factory, mynetworks="!inline:{ 127.0.0.1=no } "
                       "127.0.0.0/8")
    path = MYNET_PATHS[0]
    refused_once(o, path, [path[1:-1]], RELAY_DEFER)


def test_mynetworks_table_that_does_not_open(ostia_factory):
    """A table file that is missing is an error of the configuration:
    `ostia check` names it and the master does not start (never a list
    that silently matches nothing)."""
    setup = hosting(Setup(ostia_factory))
    missing = os.path.join(setup.dir, "no-such.cidr")
    setup.update({"mynetworks": "127.0.0.1, cidr:" + missing})
    o = setup.o
    o.update_main_cf(setup.params)
    want = re.compile(r"error: .*mynetworks: .*cidr:%s: %s: No such file" % (
        re.escape(missing), re.escape(missing)))
    r = o.cli("check")
    assert r.returncode == 2 and want.search(r.stderr), r.stderr
    r = o.cli("run", timeout=20)
    assert r.returncode == 1 and want.search(r.stderr + r.stdout), \
        r.stderr + r.stdout
    assert o.cli("status").returncode == 1


# ---------------------------------------------------------------- variants

REJECT_ROWS = [t for t in BATTERY if t[0].split("@")[0] in
               ("plain", "percent-hack", "quoted-at", "bang-path",
                "literal-remote", "source-route")]


@pytest.mark.parametrize("params,expected", [
    ({}, RELAY_REJECT),
    ({"relay_domains_reject_code": "550"}, RELAY_REJECT_550),
], ids=["554", "relay_domains_reject_code-550"])
def test_reject_unauth_destination(ostia_factory, params, expected):
    params = dict(params, smtpd_relay_restrictions="permit_mynetworks, "
                  "permit_sasl_authenticated, reject_unauth_destination")
    o = default_server(ostia_factory, **params)
    for tid, trick, path, names in REJECT_ROWS:
        refused_once(o, path, names,
                     [expected, SYNTAX] if trick.syntax else expected)
    s = Smtp(o)
    s.ehlo()
    send_message(s, SENDER, ["<user@%s>" % HOSTED])
    s.quit()


def test_permissive_recipient_list_is_no_relay(ostia_factory):
    """smtpd_recipient_restrictions = permit does not open the relay:
    the default smtpd_relay_restrictions still apply."""
    o = default_server(ostia_factory,
                       smtpd_recipient_restrictions="permit")
    refused_once(o, "<user@%s>" % ELSEWHERE, ["user@" + ELSEWHERE],
                 RELAY_DEFER)


def test_both_lists_empty_is_no_relay(ostia_factory):
    """smtpd_relay_restrictions and smtpd_recipient_restrictions both
    empty: Postfix refuses to run; Ostia must at least never relay."""
    s = hosting(Setup(ostia_factory))
    s.update({"smtpd_relay_restrictions": "",
              "smtpd_recipient_restrictions": ""})
    try:
        o = s.start()
    except AssertionError as e:
        # Refusing to start is fine, if it says why.
        assert "smtpd_relay_restrictions" in str(e), e
        return
    refused_once(o, "<user@%s>" % ELSEWHERE, ["user@" + ELSEWHERE],
                 REFUSED, log_relay=False)
