# SPDX-License-Identifier: MIT
"""The restriction evaluator end to end (issue 7, item 2).

1. A matrix over clients (in mynetworks, outsider, outsider after AUTH),
   senders and recipients for the seed's restriction lists
   (policy_e2e.seed without DNS restrictions: those are covered in
   test_relay_seed.py), with the expected reply for every cell.
   mynetworks = 127.0.0.1/32; outsiders connect from 127.0.0.2.
2. Postfix's evaluation rules: smtpd_delay_reject yes (client, HELO and
   sender refusals show at RCPT) and no (at connect/HELO/MAIL), first
   match wins, DUNNO goes on (and stops the search in its table), a
   permit ends only its own list, restriction classes, the
   reject_non_fqdn_* / reject_invalid_helo_hostname checks,
   reject_unlisted_recipient / _sender and their smtpd_reject_unlisted_*
   defaults, reject_unauth_pipelining, warn_if_reject, defer_if_permit,
   and an access table that cannot answer (451 4.3.0, never a pass).
"""

import os
import re
import signal
import socket
import time

import pytest

import delivery_e2e
import ostia_harness

from policy_e2e import (ELSEWHERE, HELO, HOSTED, INSIDER, OUTSIDER, SIMPLE,
                        Setup, Smtp, assert_no_data, assert_nothing_new,
                        assert_reply, client_re, describe, hosting,
                        queue_files, queued_id, reject_logged, reply_matches,
                        seed, send_message, try_rcpt)

# ---------------------------------------------------------------- replies
# {rcpt}/{sender}/{helo}/{client} are filled in by each test; {client}
# is NAME[ADDRESS] (client_re).
OK = "250 2.1.5 Ok"
RELAY = "454 4.7.1 <{rcpt}>: Relay access denied"
UNKNOWN_RCPT = ("550 5.1.1 <{rcpt}>: Recipient address rejected: "
                "User unknown in virtual mailbox table")
UNKNOWN_LOCAL_RCPT = ("{code} <{rcpt}>: Recipient address rejected: "
                      "User unknown in local recipient table")
UNKNOWN_SENDER = ("550 5.1.0 <{sender}>: Sender address rejected: "
                  "User unknown in virtual mailbox table")
NOT_LOGGED_IN = "553 5.7.1 <{sender}>: Sender address rejected: not logged in"
NOT_OWNED = ("553 5.7.1 <{sender}>: Sender address rejected: "
             "not owned by user {login}")
CLIENT_REJECT = "554 5.7.1 <{client}>: Client host rejected: Access denied"
HELO_REJECT = "554 5.7.1 <{helo}>: Helo command rejected: Access denied"
SENDER_REJECT = "554 5.7.1 <{sender}>: Sender address rejected: Access denied"
RCPT_REJECT = "554 5.7.1 <{rcpt}>: Recipient address rejected: Access denied"
RCPT_REJECT_TEXT = "554 5.7.1 <{rcpt}>: Recipient address rejected: {text}"
NON_FQDN_SENDER = ("504 5.5.2 <{sender}>: Sender address rejected: "
                   "need fully-qualified address")
NON_FQDN_RCPT = ("504 5.5.2 <{rcpt}>: Recipient address rejected: "
                 "need fully-qualified address")
NON_FQDN_HELO = ("504 5.5.2 <{helo}>: Helo command rejected: "
                 "need fully-qualified hostname")
INVALID_HELO = "501 5.5.2 <{helo}>: Helo command rejected: Invalid name"
# defer_if_permit: Postfix's text first; Ostia's current one accepted too.
DEFER_IF_PERMIT = (
    "450 4.7.0 <{rcpt}>: Recipient address rejected: "
    "defer_if_permit requested",
    "450 4.7.1 <{rcpt}>: Recipient address rejected: Try again later")
# The later commands of a client refused at connect (delay_reject = no):
# Postfix's own text, or the refusal repeated.
ACCESS_DENIED_STICKY = ("503 5.7.0 Error: access denied for {client}",
                        CLIENT_REJECT)
# reject_unauth_pipelining at DATA: Postfix's text, or Ostia's current.
PIPELINING = (
    "503 5.5.0 <DATA>: Data command rejected: "
    "Improper use of SMTP command pipelining",
    "554 5.5.0 Error: SMTP protocol synchronization")
LOOKUP_FAILURE = "451 4.3.0 <{rcpt}>: Temporary lookup failure"
CLIENT_LOOKUP_FAILURE = "451 4.3.0 <{client}>: Temporary lookup failure"

ALICE = "alice@" + HOSTED
BOB = "bob@" + HOSTED
NOBODY = "nobody@" + HOSTED
SOMEONE = "someone@" + ELSEWHERE
REMOTE = "user@" + ELSEWHERE
ALIAS = "fwd@" + HOSTED            # -> someone@elsewhere.example
POSTMASTER = "postmaster@" + HOSTED


# ---------------------------------------------------------------- matrix

CLIENTS = {
    # name: (source address, AUTH login or None)
    "mynetworks": (INSIDER, None),
    "outsider": (OUTSIDER, None),
    "authenticated": (OUTSIDER, ALICE),
}
SENDERS = {"alice": ALICE, "bob": BOB, "unlisted": NOBODY,
           "remote": SOMEONE, "null": ""}
RCPTS = [ALICE, NOBODY, REMOTE, ALIAS, POSTMASTER]

# One row per recipient, in RCPTS order.
MAY_RELAY = (OK, UNKNOWN_RCPT, OK, OK, OK)
INBOUND = (OK, UNKNOWN_RCPT, RELAY, OK, OK)


def every(reply):
    return (reply,) * len(RCPTS)


# The expected RCPT reply per (client, sender).  Sender refusals may come
# at MAIL FROM or at RCPT TO (Postfix: RCPT, smtpd_delay_reject = yes);
# the reply is the same.  Postfix's order: client, HELO, sender lists,
# then smtpd_reject_unlisted_sender (end of the sender stage), then the
# relay and recipient lists, then smtpd_reject_unlisted_recipient.
MATRIX = {
    ("mynetworks", "alice"): MAY_RELAY,
    ("mynetworks", "bob"): MAY_RELAY,
    # smtpd_reject_unlisted_sender applies after permit_mynetworks too.
    ("mynetworks", "unlisted"): every(UNKNOWN_SENDER),
    ("mynetworks", "remote"): MAY_RELAY,
    ("mynetworks", "null"): MAY_RELAY,
    # Our users' addresses need a login (reject_sender_login_mismatch).
    ("outsider", "alice"): every(NOT_LOGGED_IN),
    ("outsider", "bob"): every(NOT_LOGGED_IN),
    ("outsider", "unlisted"): every(UNKNOWN_SENDER),
    ("outsider", "remote"): INBOUND,
    ("outsider", "null"): INBOUND,
    ("authenticated", "alice"): MAY_RELAY,
    ("authenticated", "bob"): every(NOT_OWNED),
    ("authenticated", "unlisted"): every(NOT_OWNED),
    ("authenticated", "remote"): every(NOT_OWNED),
    ("authenticated", "null"): MAY_RELAY,
}
SENDER_STAGE = {UNKNOWN_SENDER, NOT_LOGGED_IN, NOT_OWNED}

CELLS = sorted(MATRIX)


@pytest.mark.parametrize("tables", ["texthash", "accountdb"])
@pytest.mark.parametrize("client,sender", CELLS,
                         ids=["%s-%s" % c for c in CELLS])
def test_matrix(ostia_factory, client, sender, tables):
    """tables: the seed's MySQL tables as texthash files, or as the
    sqlite: tables of Ostia's account database (same shape)."""
    o = seed(Setup(ostia_factory), tables=tables).start()
    source, login = CLIENTS[client]
    addr = SENDERS[sender]
    before = queue_files(o)
    bad = []
    s = Smtp(o, source=source)
    s.ehlo()
    if login:
        s.auth(login)
    for rcpt, expected in zip(RCPTS, MATRIX[(client, sender)]):
        stage, r = try_rcpt(s, addr, "<%s>" % rcpt)
        values = dict(rcpt=rcpt, sender=addr, login=login or "")
        if not reply_matches(r, expected, **values):
            bad.append("RCPT TO:<%s>: expected %s, got %s %r"
                       % (rcpt, describe(expected, **values), stage, r))
        elif stage == "MAIL" and expected not in SENDER_STAGE:
            bad.append("RCPT TO:<%s>: MAIL FROM refused: %r" % (rcpt, r))
        if stage == "RCPT":
            s.rset()
    s.quit()
    assert not bad, "%s client, sender <%s>:\n  %s" % (client, addr,
                                                       "\n  ".join(bad))
    assert_nothing_new(o, before, "the matrix sends no DATA")


def test_matrix_accepted_cell_delivers(ostia_factory):
    """One accepted cell end to end: the message is queued with the
    recipients the matrix accepted."""
    o = seed(Setup(ostia_factory)).start()
    s = Smtp(o, source=OUTSIDER)
    s.ehlo()
    qid = send_message(s, SOMEONE, ["<%s>" % ALICE, "<%s>" % POSTMASTER])
    s.quit()
    assert qid in queue_files(o)


# ---------------------------------------------------------------- helpers

def server(factory, mynetworks="127.0.0.1/32", tables=None, **params):
    """Our domains, mynetworks, tables {name: content} (texthash; their
    "texthash:path" replaces @NAME@ in the parameter values), params."""
    s = hosting(Setup(factory), mynetworks=mynetworks)
    paths = {}
    for name, content in (tables or {}).items():
        paths[name] = s.table(name, content)
    for k, v in params.items():
        for name, spec in paths.items():
            v = v.replace("@%s@" % name, spec)
        s.params[k] = v
    return s.start()


def rcpt_reply(o, rcpt, sender=SOMEONE, source=OUTSIDER, helo=HELO):
    """Session: EHLO, MAIL, RCPT; returns (stage, reply)."""
    s = Smtp(o, source=source)
    s.ehlo(helo)
    stage, r = try_rcpt(s, sender, "<%s>" % rcpt)
    s.quit()
    return stage, r


# ---------------------------------------------------------------- delay_reject

DELAY_TABLES = {
    "clients": {OUTSIDER: "REJECT"},
    "helos": {"bad.helo.example": "REJECT"},
    "senders": {"bad@" + ELSEWHERE: "REJECT"},
}
DELAY_PARAMS = {
    "smtpd_client_restrictions": "check_client_access @clients@",
    "smtpd_helo_restrictions": "check_helo_access @helos@",
    "smtpd_sender_restrictions": "check_sender_access @senders@",
}


def test_delay_reject_yes_client_refused_at_rcpt(ostia_factory):
    o = server(ostia_factory, tables=DELAY_TABLES, **DELAY_PARAMS)
    mark = o.log_mark()
    s = Smtp(o, source=OUTSIDER)
    assert s.greeting.code == 220, s.greeting
    s.ehlo()
    r = s.mail(SOMEONE)
    assert r.code == 250, "smtpd_delay_reject = yes: MAIL got %r" % r
    r = s.rcpt("<%s>" % ALICE)
    assert_reply(r, CLIENT_REJECT, client=client_re(OUTSIDER))
    s.quit()
    reject_logged(o, mark, "RCPT", OUTSIDER, r, [ALICE])
    # The same from a client the table does not name.
    stage, r = rcpt_reply(o, ALICE, source=INSIDER)
    assert_reply(r, OK)


def without_client_list(params):
    return {k: v for k, v in params.items()
            if k != "smtpd_client_restrictions"}


def test_delay_reject_yes_helo_and_sender_refused_at_rcpt(ostia_factory):
    o = server(ostia_factory, tables=DELAY_TABLES,
               **without_client_list(DELAY_PARAMS))
    s = Smtp(o, source=INSIDER)
    r = s.ehlo("bad.helo.example")
    assert r.code == 250, r
    assert s.mail(SOMEONE).code == 250
    assert_reply(s.rcpt("<%s>" % ALICE), HELO_REJECT,
                 helo="bad.helo.example")
    s.quit()
    s = Smtp(o, source=INSIDER)
    s.ehlo()
    r = s.mail("bad@" + ELSEWHERE)
    assert r.code == 250, "smtpd_delay_reject = yes: MAIL got %r" % r
    assert_reply(s.rcpt("<%s>" % ALICE), SENDER_REJECT,
                 sender="bad@" + ELSEWHERE)
    s.quit()


def test_delay_reject_no_client_refused_before_rcpt(ostia_factory):
    """smtpd_delay_reject = no: the client list runs at connect; the
    refusal comes with the greeting or the first command and every later
    command but QUIT is refused; RCPT is never accepted."""
    o = server(ostia_factory, tables=DELAY_TABLES, smtpd_delay_reject="no",
               **DELAY_PARAMS)
    before = queue_files(o)
    s = Smtp(o, source=OUTSIDER)
    replies = [("greeting", s.greeting)]
    for where, line in (("EHLO", "EHLO " + HELO),
                        ("MAIL", "MAIL FROM:<%s>" % SOMEONE),
                        ("RCPT", "RCPT TO:<%s>" % ALICE)):
        if where == "EHLO" and s.greeting.code != 220:
            continue
        try:
            replies.append((where, s.cmd(line)))
        except EOFError:
            break           # closed on us: refused as well
    s.quit()
    refusals = [(w, r) for w, r in replies if r.code >= 400]
    assert refusals, replies
    first_where, first = refusals[0]
    assert first_where in ("greeting", "EHLO"), replies
    assert_reply(first, [CLIENT_REJECT, *ACCESS_DENIED_STICKY],
                 client=client_re(OUTSIDER))
    for where, r in replies:
        if where in ("MAIL", "RCPT"):
            assert r.code >= 500, "%s after the client was refused: %r" \
                % (where, r)
    assert_nothing_new(o, before)


def test_delay_reject_no_helo_at_helo_sender_at_mail(ostia_factory):
    o = server(ostia_factory, tables=DELAY_TABLES, smtpd_delay_reject="no",
               **without_client_list(DELAY_PARAMS))
    s = Smtp(o, source=INSIDER)
    r = s.ehlo("bad.helo.example", expect_ok=False)
    assert_reply(r, HELO_REJECT, "EHLO", helo="bad.helo.example")
    s.ehlo()
    r = s.mail("bad@" + ELSEWHERE)
    assert_reply(r, SENDER_REJECT, "MAIL FROM", sender="bad@" + ELSEWHERE)
    r = s.mail(SOMEONE)
    assert r.code == 250, r
    assert_reply(s.rcpt("<%s>" % ALICE), OK)
    s.quit()


# ---------------------------------------------------------------- evaluation

def test_first_match_wins(ostia_factory):
    o = server(ostia_factory, tables={
        "first": {"ok@" + HOSTED: "OK", "no@" + HOSTED: "REJECT first"},
        "second": {"ok@" + HOSTED: "REJECT second",
                   "no@" + HOSTED: "OK"}},
        smtpd_reject_unlisted_recipient="no",
        smtpd_recipient_restrictions="check_recipient_access @first@, "
        "check_recipient_access @second@, reject")
    assert_reply(rcpt_reply(o, "ok@" + HOSTED)[1], OK)
    assert_reply(rcpt_reply(o, "no@" + HOSTED)[1], RCPT_REJECT_TEXT,
                 rcpt="no@" + HOSTED, text="first")
    # Neither table: the final reject.
    assert_reply(rcpt_reply(o, "other@" + HOSTED)[1], RCPT_REJECT,
                 rcpt="other@" + HOSTED)


def test_dunno_goes_on_and_stops_its_table(ostia_factory):
    """DUNNO: the next restriction decides; and a DUNNO for the address
    stops the lookup of its domain in the same table."""
    o = server(ostia_factory, tables={
        "t": {"dunno@" + HOSTED: "DUNNO", HOSTED: "REJECT domain"},
        "next": {"dunno@" + HOSTED: "REJECT next"}},
        smtpd_reject_unlisted_recipient="no",
        smtpd_recipient_restrictions="check_recipient_access @t@, "
        "check_recipient_access @next@, permit")
    assert_reply(rcpt_reply(o, "dunno@" + HOSTED)[1], RCPT_REJECT_TEXT,
                 rcpt="dunno@" + HOSTED, text="next")
    assert_reply(rcpt_reply(o, "other@" + HOSTED)[1], RCPT_REJECT_TEXT,
                 rcpt="other@" + HOSTED, text="domain")
    o2 = server(ostia_factory, tables={
        "t": {"dunno@" + HOSTED: "DUNNO", HOSTED: "REJECT domain"}},
        smtpd_reject_unlisted_recipient="no",
        smtpd_recipient_restrictions="check_recipient_access @t@, permit")
    assert_reply(rcpt_reply(o2, "dunno@" + HOSTED)[1], OK)


def test_permit_ends_only_its_own_list(ostia_factory):
    """permit in smtpd_client_restrictions does not skip the recipient
    restrictions, nor the relay check."""
    o = server(ostia_factory, smtpd_client_restrictions="permit",
               smtpd_helo_restrictions="permit",
               smtpd_sender_restrictions="permit",
               smtpd_recipient_restrictions="check_recipient_access "
               "@t@, permit",
               tables={"t": {"blocked@" + HOSTED: "REJECT"}})
    assert_reply(rcpt_reply(o, "blocked@" + HOSTED)[1], RCPT_REJECT,
                 rcpt="blocked@" + HOSTED)
    assert_reply(rcpt_reply(o, REMOTE)[1], RELAY, rcpt=REMOTE)
    assert_reply(rcpt_reply(o, ALICE)[1], OK)


def test_restriction_classes(ostia_factory):
    o = server(ostia_factory, tables={
        "t": {"classy@" + HOSTED: "myclass", "friend@" + HOSTED: "friendly"},
        "after": {"friend@" + HOSTED: "REJECT not reached"}},
        smtpd_restriction_classes="myclass, friendly",
        myclass="reject", friendly="permit",
        smtpd_reject_unlisted_recipient="no",
        smtpd_recipient_restrictions="check_recipient_access @t@, "
        "check_recipient_access @after@, permit")
    assert_reply(rcpt_reply(o, "classy@" + HOSTED)[1], RCPT_REJECT,
                 rcpt="classy@" + HOSTED)
    assert_reply(rcpt_reply(o, "friend@" + HOSTED)[1], OK)


# ---------------------------------------------------------------- syntax checks

def test_reject_non_fqdn_sender_and_recipient(ostia_factory):
    o = server(ostia_factory, mynetworks="127.0.0.0/8",
               smtpd_sender_restrictions="reject_non_fqdn_sender",
               smtpd_recipient_restrictions="reject_non_fqdn_recipient, "
               "permit_mynetworks, reject")
    stage, r = rcpt_reply(o, ALICE, sender="user@nodots", source=INSIDER)
    assert_reply(r, NON_FQDN_SENDER, sender="user@nodots")
    stage, r = rcpt_reply(o, "user@nodots", source=INSIDER)
    assert stage == "RCPT"
    assert_reply(r, NON_FQDN_RCPT, rcpt="user@nodots")
    # Qualified addresses, the null sender and <Postmaster> pass.
    assert_reply(rcpt_reply(o, ALICE, source=INSIDER)[1], OK)
    assert_reply(rcpt_reply(o, ALICE, sender="", source=INSIDER)[1], OK)
    s = Smtp(o, source=INSIDER)
    s.ehlo()
    assert s.mail(SOMEONE).code == 250
    assert_reply(s.rcpt("<Postmaster>"), OK)
    s.quit()


@pytest.mark.parametrize("helo,expected", [
    ("nodots", NON_FQDN_HELO),
    ("bad..example", INVALID_HELO),
    ("-bad.example", INVALID_HELO),
    ("good.example", OK),
    ("[192.0.2.1]", OK),
], ids=["non-fqdn", "empty-label", "leading-hyphen", "fqdn",
        "address-literal"])
def test_helo_name_checks(ostia_factory, helo, expected):
    """reject_invalid_helo_hostname before reject_non_fqdn_helo_hostname
    (so a bad name gets 501, a mere short name 504)."""
    o = server(ostia_factory,
               smtpd_helo_restrictions="reject_invalid_helo_hostname, "
               "reject_non_fqdn_helo_hostname")
    stage, r = rcpt_reply(o, ALICE, helo=helo)
    assert_reply(r, expected, "EHLO %s" % helo, helo=helo)


# ---------------------------------------------------------------- unlisted

@pytest.mark.parametrize("params,rcpt,expected", [
    ({}, NOBODY, UNKNOWN_RCPT),          # smtpd_reject_unlisted_recipient default
    ({}, "nobody@ours.example", UNKNOWN_LOCAL_RCPT),
    ({"unknown_local_recipient_reject_code": "450"}, "nobody@ours.example",
     UNKNOWN_LOCAL_RCPT),
    ({"smtpd_reject_unlisted_recipient": "no"}, NOBODY, OK),
    ({"smtpd_reject_unlisted_recipient": "no",
      "smtpd_recipient_restrictions": "reject_unlisted_recipient, permit"},
     NOBODY, UNKNOWN_RCPT),
    ({}, ALICE, OK),
    ({}, "alice+ext@" + HOSTED, OK),
], ids=["default-virtual", "default-local", "local-code-450",
        "default-off", "explicit", "listed", "extension"])
def test_unlisted_recipient(ostia_factory, params, rcpt, expected):
    o = server(ostia_factory, **params)
    code = "450 4.1.1" if params.get(
        "unknown_local_recipient_reject_code") == "450" else "550 5.1.1"
    stage, r = rcpt_reply(o, rcpt)
    assert stage == "RCPT"
    assert_reply(r, expected, rcpt=rcpt, code=code)


@pytest.mark.parametrize("params,sender,expected", [
    ({}, NOBODY, OK),                    # smtpd_reject_unlisted_sender = no
    ({"smtpd_reject_unlisted_sender": "yes"}, NOBODY, UNKNOWN_SENDER),
    ({"smtpd_sender_restrictions": "reject_unlisted_sender"}, NOBODY,
     UNKNOWN_SENDER),
    ({"smtpd_reject_unlisted_sender": "yes"}, ALICE, OK),
    ({"smtpd_reject_unlisted_sender": "yes"}, SOMEONE, OK),
    ({"smtpd_reject_unlisted_sender": "yes"}, "", OK),
], ids=["default-off", "implicit", "explicit", "listed", "remote", "null"])
def test_unlisted_sender(ostia_factory, params, sender, expected):
    o = server(ostia_factory, **params)
    stage, r = rcpt_reply(o, ALICE, sender=sender)
    assert_reply(r, expected, "%s: MAIL FROM:<%s>" % (stage, sender),
                 sender=sender)


# ---------------------------------------------------------------- pipelining

def pipelining_server(factory):
    return server(factory, mynetworks="127.0.0.0/8",
                  smtpd_forbid_unauth_pipelining="no",
                  smtpd_data_restrictions="reject_unauth_pipelining")


def drain_until_closed_or_quit(c):
    """Send QUIT and read replies until 221 or the connection ends."""
    try:
        c.send_line("QUIT")
        while True:
            if c.read_reply(10).code == 221:
                break
    except (EOFError, OSError, AssertionError):
        pass
    c.close()


def test_unauth_pipelining_without_pipelining_offer(ostia_factory):
    """HELO (no ESMTP, so no PIPELINING), then MAIL, RCPT and DATA in one
    packet: DATA is refused, nothing queued."""
    o = pipelining_server(ostia_factory)
    before = queue_files(o)
    s = Smtp(o, source=INSIDER)
    assert s.helo().code == 250
    s.c.send_raw("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n"
                 % (SOMEONE, ALICE))
    assert s.c.read_reply().code == 250
    assert s.c.read_reply().code == 250
    assert_reply(s.c.read_reply(), PIPELINING, "DATA")
    drain_until_closed_or_quit(s.c)
    assert_nothing_new(o, before)


def test_unauth_pipelining_message_sent_ahead(ostia_factory):
    """The spam-bot form: the message text right after DATA without
    waiting for 354."""
    o = pipelining_server(ostia_factory)
    before = queue_files(o)
    s = Smtp(o, source=INSIDER)
    assert s.helo().code == 250
    s.c.send_raw(("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n"
                  % (SOMEONE, ALICE)).encode() + SIMPLE + b".\r\n")
    assert s.c.read_reply().code == 250
    assert s.c.read_reply().code == 250
    assert_reply(s.c.read_reply(), PIPELINING, "DATA")
    drain_until_closed_or_quit(s.c)
    assert_nothing_new(o, before)


def test_unauth_pipelining_talking_before_greeting(ostia_factory):
    """EHLO sent before the greeting, then everything in lock step: DATA
    is refused."""
    o = pipelining_server(ostia_factory)
    before = queue_files(o)
    mark = o.log_mark()
    # The EHLO must be in the socket before smtpd looks: smtpd is
    # stopped while the kernel takes the connection and the EHLO, and
    # goes on after (no race with the greeting, however loaded the
    # machine).
    smtpds = [pid for pid in o.child_pids()
              if b"inet" in delivery_e2e.child_argv(pid)]
    assert smtpds, o.diagnostics()
    for pid in smtpds:
        os.kill(pid, signal.SIGSTOP)
    try:
        for pid in smtpds:
            ostia_harness.wait_until(
                lambda: ostia_harness.process_stopped(pid),
                what="smtpd %d stopped" % pid)
        s = Smtp(o, source=INSIDER, greet=False)
        s.c.send_line("EHLO " + HELO)
        time.sleep(0.2)         # let the bytes reach the socket
    finally:
        for pid in smtpds:
            os.kill(pid, signal.SIGCONT)
    assert s.c.read_reply().code == 220
    assert s.c.read_reply().code == 250
    o.wait_for_log(r"talked before the greeting", start=mark)
    assert s.mail(SOMEONE).code == 250
    assert s.rcpt("<%s>" % ALICE).code == 250
    r, final = s.data()
    if final is not None:
        raise AssertionError("DATA accepted after pre-greeting talk: %r" %
                             final)
    assert_reply(r, PIPELINING, "DATA")
    drain_until_closed_or_quit(s.c)
    assert_nothing_new(o, before)


def test_pipelining_allowed_when_offered_and_lockstep(ostia_factory):
    o = pipelining_server(ostia_factory)
    s = Smtp(o, source=INSIDER)
    r = s.ehlo()
    assert "PIPELINING" in r.lines, r
    s.c.send_raw("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n"
                 % (SOMEONE, ALICE))
    assert s.c.read_reply().code == 250
    assert s.c.read_reply().code == 250
    assert s.c.read_reply().code == 354
    s.c.send_raw(SIMPLE + b".\r\n")
    queued_id(s.c.read_reply())
    s.quit()
    # HELO in lock step is fine as well.
    s = Smtp(o, source=INSIDER)
    assert s.helo().code == 250
    send_message(s, SOMEONE, ["<%s>" % ALICE])
    s.quit()


# ---------------------------------------------------------------- warn / defer

def test_warn_if_reject(ostia_factory):
    o = server(ostia_factory, tables={"t": {"warned@" + HOSTED: "REJECT"}},
               smtpd_reject_unlisted_recipient="no",
               smtpd_recipient_restrictions="warn_if_reject, "
               "check_recipient_access @t@, permit")
    mark = o.log_mark()
    s = Smtp(o, source=OUTSIDER)
    s.ehlo()
    qid = send_message(s, SOMEONE, ["<warned@%s>" % HOSTED])
    s.quit()
    assert qid in queue_files(o)
    o.wait_for_log(r"reject_warning: .*%s.*554 5\.7\.1 "
                   r"<warned@hosted\.example>: Recipient address rejected"
                   % client_re(OUTSIDER).pattern, start=mark)
    # warn_if_reject applies to the next restriction only.
    o2 = server(ostia_factory, tables={"t": {"warned@" + HOSTED: "REJECT"}},
                smtpd_reject_unlisted_recipient="no",
                smtpd_recipient_restrictions="warn_if_reject, permit_mynetworks, "
                "check_recipient_access @t@, permit")
    assert_reply(rcpt_reply(o2, "warned@" + HOSTED)[1], RCPT_REJECT,
                 rcpt="warned@" + HOSTED)


@pytest.mark.parametrize("restrictions,expected", [
    ("defer_if_permit, permit", DEFER_IF_PERMIT),
    ("defer_if_permit, reject", RCPT_REJECT),
    ("defer_if_permit", DEFER_IF_PERMIT),     # end of list = permit
], ids=["then-permit", "then-reject", "end-of-list"])
def test_defer_if_permit(ostia_factory, restrictions, expected):
    o = server(ostia_factory, smtpd_recipient_restrictions=restrictions)
    before = queue_files(o)
    stage, r = rcpt_reply(o, ALICE)
    assert_reply(r, expected, rcpt=ALICE)
    assert_nothing_new(o, before)


# ---------------------------------------------------------------- failures

def dead_mysql_table(directory):
    """A mysql: table whose only host is a closed loopback port (as in
    tests/e2e/11-auth); returns (spec, break_it) with nothing left to
    break."""
    return ostia_harness.dead_mysql_table(directory), lambda: None


def broken_sqlite_table(directory):
    """A sqlite: table over a good database that becomes unreadable once
    Ostia has opened it: break_it() overwrites its header in place (same
    file), so every later read fails ("file is not a database").  A
    file mode would not do: tables are opened before privileges are
    dropped."""
    import sqlite3
    db = os.path.join(directory, "access.sqlite")
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (k TEXT PRIMARY KEY, x TEXT)")
    con.execute("INSERT INTO t VALUES ('other@hosted.example', 'OK')")
    con.commit()
    con.close()
    os.chmod(db, 0o644)
    path = os.path.join(directory, "broken-sqlite.cf")
    with open(path, "w") as f:
        f.write("dbpath = %s\nquery = SELECT x FROM t WHERE k='%%s'\n" % db)
    os.chmod(path, 0o644)

    def break_it():
        with open(db, "r+b") as f:
            f.write(b"\0" * 100)
    return "sqlite:" + path, break_it


@pytest.mark.parametrize("make_table", [dead_mysql_table,
                                        broken_sqlite_table],
                         ids=["mysql-closed-port", "sqlite-unreadable"])
def test_access_table_lookup_failure_is_temporary(ostia_factory, make_table):
    """A table that cannot answer: 451 4.3.0, even with a permit after
    it; nothing queued; the cause in the log."""
    s = hosting(Setup(ostia_factory), mynetworks="127.0.0.1/32")
    table, break_it = make_table(s.dir)
    s.update({"smtpd_recipient_restrictions":
              "check_recipient_access %s, permit" % table})
    o = s.start()
    # One lookup first (of another key: answers may be cached), so the
    # lookup process has opened its tables: the failure under test is a
    # lookup that fails, not an open.
    sess = Smtp(o, source=INSIDER)
    sess.ehlo()
    assert sess.mail(SOMEONE).code == 250
    sess.rcpt("<%s>" % BOB)
    sess.quit()
    break_it()
    before = queue_files(o)
    mark = o.log_mark()
    sess = Smtp(o, source=OUTSIDER, timeout=60)
    sess.ehlo()
    assert sess.mail(SOMEONE).code == 250
    r = sess.rcpt("<%s>" % ALICE)
    assert_reply(r, LOOKUP_FAILURE, rcpt=ALICE)
    assert_no_data(sess)
    sess.quit()
    assert_nothing_new(o, before)
    o.wait_for_log(r"warning: .*%s" % re.escape(table.split(":", 1)[1]),
                   start=mark)


def test_client_table_lookup_failure_is_temporary(ostia_factory):
    s = hosting(Setup(ostia_factory), mynetworks="127.0.0.1/32")
    table, _ = dead_mysql_table(s.dir)
    s.update({"smtpd_client_restrictions": "check_client_access %s" % table})
    o = s.start()
    stage, r = rcpt_reply(o, ALICE)
    assert_reply(r, CLIENT_LOOKUP_FAILURE, client=client_re(OUTSIDER))


def test_helo_checks_without_helo(ostia_factory):
    """A client that never sends HELO (smtpd_helo_required = no) is not
    refused by reject_invalid_helo_hostname: there is no name to judge,
    as in Postfix; smtpd_helo_required is the control for that."""
    o = server(ostia_factory, smtpd_helo_required="no",
               smtpd_helo_restrictions="reject_invalid_helo_hostname, "
               "reject_non_fqdn_helo_hostname")
    s = Smtp(o, source=OUTSIDER)
    stage, r = try_rcpt(s, SOMEONE, "<%s>" % ALICE)
    s.quit()
    assert (stage, r.code) == ("RCPT", 250), (stage, r)
    # With a bad name the same list refuses.
    stage, r = rcpt_reply(o, ALICE, helo="bad_name!")
    assert r.code == 501, (stage, r)
