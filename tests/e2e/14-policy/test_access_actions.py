# SPDX-License-Identifier: MIT
"""Every access(5) table result end to end, for each kind of access
table: check_client_access, check_helo_access, check_sender_access and
check_recipient_access (texthash tables).

One session per case, from 127.0.0.2 (outside mynetworks =
127.0.0.1/32): EHLO flagged.helo.example, MAIL FROM:<flagged@
elsewhere.example>, RCPT TO:<flagged@hosted.example>; only the kind under
test has a table, with the key of its flagged value.  The restriction
list of that kind is "check_KIND_access T1, check_KIND_access T2": T2
answers "REJECT second table" where a case needs to show whether T1's
answer ended the list (OK, a permitting class, an all-digits value) or
let it go on (DUNNO).

Refusals: the RCPT reply (smtpd_delay_reject = yes: client, HELO and
sender results show at RCPT), the reject line in the log, nothing
queued.  Accepted cases send a message and check what the action leaves:
HOLD a 'Q' record after the message (docs/queue-format.md trailer
records, before 'X'), FILTER an 'F' record "transport:destination",
REDIRECT a 'J' record with the address, PREPEND the header in the
stored message, DISCARD 250 but nothing queued, WARN a log line.  An
unknown action word is a configuration error: 451 4.3.5 and a warning
naming the value.
"""


import pytest

from policy_e2e import (ELSEWHERE, HOSTED, OUTSIDER, Setup, Smtp,
                        assert_no_data, assert_nothing_new, assert_reply,
                        client_re, envelope_recipients, hosting, message_headers,
                        queue_files, queued_id, reject_logged, send_message,
                        settle, trailer_values)

# ---------------------------------------------------------------- replies
# {name}: what the reply is about (<client>, <helo>, <sender>, <rcpt>);
# {words}: "Client host", "Helo command", "Sender address", "Recipient
# address".
ACCEPT = "250 2.1.5 Ok"
CONFIG_ERROR = "451 4.3.5 Server configuration error"

FILTER_TO = "smtp:[127.0.0.1]:10025"
REDIRECT_TO = "other@" + ELSEWHERE
PREPEND_HEADER = "X-Ostia-Access-Test: prepended by the table"

ACTIONS = [
    # (id, table value, expected RCPT reply, T2 value or None, check)
    ("OK", "OK", ACCEPT, "REJECT second table", "queued"),
    ("all-digits", "1234567890", ACCEPT, "REJECT second table", "queued"),
    ("REJECT", "REJECT",
     "554 5.7.1 <{name}>: {words} rejected: Access denied", None, None),
    ("REJECT-text", "REJECT go away",
     "554 5.7.1 <{name}>: {words} rejected: go away", None, None),
    ("REJECT-enhanced", "REJECT 5.7.9 policy says no",
     "554 5.7.9 <{name}>: {words} rejected: policy says no", None, None),
    ("DEFER", "DEFER",
     "450 4.7.1 <{name}>: {words} rejected: Access denied", None, None),
    ("DEFER-text", "DEFER try later",
     "450 4.7.1 <{name}>: {words} rejected: try later", None, None),
    ("4NN", "450 come back later",
     "450 4.7.1 <{name}>: {words} rejected: come back later", None, None),
    ("4NN-enhanced", "451 4.3.2 system busy",
     "451 4.3.2 <{name}>: {words} rejected: system busy", None, None),
    ("5NN", "550 go away",
     "550 5.7.1 <{name}>: {words} rejected: go away", None, None),
    ("5NN-enhanced", "551 5.7.9 policy says no",
     "551 5.7.9 <{name}>: {words} rejected: policy says no", None, None),
    ("DUNNO", "DUNNO",
     "554 5.7.1 <{name}>: {words} rejected: second table",
     "REJECT second table", None),
    ("HOLD", "HOLD", ACCEPT, None, "hold"),
    ("HOLD-text", "HOLD held for review", ACCEPT, None, "hold"),
    ("DISCARD", "DISCARD", ACCEPT, None, "discard"),
    ("PREPEND", "PREPEND " + PREPEND_HEADER, ACCEPT, None, "prepend"),
    ("FILTER", "FILTER " + FILTER_TO, ACCEPT, None, "filter"),
    ("REDIRECT", "REDIRECT " + REDIRECT_TO, ACCEPT, None, "redirect"),
    ("WARN", "WARN watch this one", ACCEPT, None, "warn"),
    ("class-reject", "myclass",
     "554 5.7.1 <{name}>: {words} rejected: Access denied", None, None),
    ("class-permit", "friendly", ACCEPT, "REJECT second table", "queued"),
    ("unknown-word", "FROBNICATE now", CONFIG_ERROR, None, "config-error"),
]

# Log lines (regex, searched after the case's log mark).
LOG_HOLD = r"\bhold\b"
LOG_DISCARD = r"\bdiscard\b"
LOG_WARN = r"\bwarn(ing)?\b.*watch this one"
LOG_CONFIG_ERROR = r"warning: .*FROBNICATE"

FLAG_HELO = "flagged.helo.example"
FLAG_SENDER = "flagged@" + ELSEWHERE
FLAG_RCPT = "flagged@" + HOSTED

KINDS = {
    # kind: (list parameter, restriction, table key, reply name, words)
    "client": ("smtpd_client_restrictions", "check_client_access",
               OUTSIDER, client_re(OUTSIDER), "Client host"),
    "helo": ("smtpd_helo_restrictions", "check_helo_access",
             FLAG_HELO, FLAG_HELO, "Helo command"),
    "sender": ("smtpd_sender_restrictions", "check_sender_access",
               FLAG_SENDER, FLAG_SENDER, "Sender address"),
    "recipient": ("smtpd_recipient_restrictions", "check_recipient_access",
                  FLAG_RCPT, FLAG_RCPT, "Recipient address"),
}

CASES = [(k, a) for k in KINDS for a in ACTIONS]


def action_server(factory, kind, value, second):
    param, restriction, key, _, _ = KINDS[kind]
    s = hosting(Setup(factory), mynetworks="127.0.0.1/32")
    lst = "%s %s" % (restriction, s.table("t1", {key: value}))
    if second is not None:
        lst += ", %s %s" % (restriction, s.table("t2", {key: second}))
    s.update({
        param: lst,
        "smtpd_restriction_classes": "myclass, friendly",
        "myclass": "reject",
        "friendly": "permit",
        # flagged@hosted.example has no mailbox.
        "smtpd_reject_unlisted_recipient": "no",
    })
    return s.start()


@pytest.mark.parametrize("kind,action", CASES,
                         ids=["%s-%s" % (k, a[0]) for k, a in CASES])
def test_access_action(ostia_factory, kind, action):
    aid, value, expected, second, check = action
    _, _, _, name, words = KINDS[kind]
    o = action_server(ostia_factory, kind, value, second)
    before = queue_files(o)
    mark = o.log_mark()
    s = Smtp(o, source=OUTSIDER)
    s.ehlo(FLAG_HELO)
    r = s.mail(FLAG_SENDER)
    assert r.code == 250, "smtpd_delay_reject = yes: MAIL got %r" % r
    r = s.rcpt("<%s>" % FLAG_RCPT)
    assert_reply(r, expected, "%s %s: RCPT" % (kind, value), name=name,
                 words=words)
    if r.code >= 400:
        assert_no_data(s)
        s.quit()
        assert_nothing_new(o, before, "%s %s" % (kind, value))
        reject_logged(o, mark, "RCPT", OUTSIDER, r, [FLAG_RCPT])
        if check == "config-error":
            o.wait_for_log(LOG_CONFIG_ERROR, start=mark)
        return
    r, final = s.data()
    assert r.code == 354, r
    assert final is not None and final.code == 250, final
    s.quit()
    if check == "discard":
        assert_nothing_new(o, before, "DISCARD")
        o.wait_for_log(LOG_DISCARD, start=mark)
        return
    qid = queued_id(final)
    assert sorted(set(queue_files(o)) - set(before)) == [qid]
    if check == "hold":
        assert trailer_values(o, qid, "Q"), "no hold record 'Q' in %s" % qid
        o.wait_for_log(LOG_HOLD, start=mark)
        if value.startswith("HOLD "):
            o.wait_for_log(LOG_HOLD + ".*held for review", start=mark)
    else:
        assert not trailer_values(o, qid, "Q"), "held without HOLD"
    if check == "filter":
        assert trailer_values(o, qid, "F") == [FILTER_TO]
    else:
        assert not trailer_values(o, qid, "F")
    if check == "redirect":
        assert trailer_values(o, qid, "J") == [REDIRECT_TO]
    else:
        assert not trailer_values(o, qid, "J")
    headers = message_headers(o, qid)
    if check == "prepend":
        assert PREPEND_HEADER + "\r\n" in headers, headers
    else:
        assert "X-Ostia-Access-Test" not in headers
    if check == "warn":
        o.wait_for_log(LOG_WARN, start=mark)


def test_actions_belong_to_one_transaction(ostia_factory):
    """HOLD, FILTER, REDIRECT and PREPEND of one message (several
    recipients, each with one action) all land in that message; the
    next message of the same session gets none of them."""
    s = hosting(Setup(ostia_factory), mynetworks="127.0.0.1/32")
    t = s.table("t", {"hold@" + HOSTED: "HOLD",
                      "filter@" + HOSTED: "FILTER " + FILTER_TO,
                      "redirect@" + HOSTED: "REDIRECT " + REDIRECT_TO,
                      "prepend@" + HOSTED: "PREPEND " + PREPEND_HEADER})
    s.update({"smtpd_recipient_restrictions":
              "check_recipient_access %s, permit" % t,
              "smtpd_reject_unlisted_recipient": "no"})
    o = s.start()
    sess = Smtp(o, source=OUTSIDER)
    sess.ehlo()
    first = send_message(sess, "someone@" + ELSEWHERE,
                         ["<%s@%s>" % (u, HOSTED) for u in
                          ("hold", "filter", "redirect", "prepend")])
    second = send_message(sess, "someone@" + ELSEWHERE,
                          ["<user@%s>" % HOSTED])
    sess.quit()
    assert trailer_values(o, first, "Q")
    assert trailer_values(o, first, "F") == [FILTER_TO]
    assert trailer_values(o, first, "J") == [REDIRECT_TO]
    assert PREPEND_HEADER in message_headers(o, first)
    for rtype in "QFJ":
        assert not trailer_values(o, second, rtype), rtype
    assert "X-Ostia-Access-Test" not in message_headers(o, second)
    assert [a.lower() for a in envelope_recipients(o, second)] == \
        ["user@" + HOSTED]


def test_discard_drops_the_whole_message(ostia_factory):
    """DISCARD for one recipient discards the message for all of them."""
    s = hosting(Setup(ostia_factory), mynetworks="127.0.0.1/32")
    t = s.table("t", {"discard@" + HOSTED: "DISCARD"})
    s.update({"smtpd_recipient_restrictions":
              "check_recipient_access %s, permit" % t,
              "smtpd_reject_unlisted_recipient": "no"})
    o = s.start()
    before = queue_files(o)
    sess = Smtp(o, source=OUTSIDER)
    sess.ehlo()
    assert sess.mail("someone@" + ELSEWHERE).code == 250
    assert_reply(sess.rcpt("<user@%s>" % HOSTED), ACCEPT)
    assert_reply(sess.rcpt("<discard@%s>" % HOSTED), ACCEPT)
    r, final = sess.data()
    assert r.code == 354 and final.code == 250, (r, final)
    sess.quit()
    settle(o)
    assert_nothing_new(o, before, "DISCARD")


def test_sender_access_null_sender_key(ostia_factory):
    """The null sender is looked up as <> (smtpd_null_access_lookup_key)."""
    s = hosting(Setup(ostia_factory), mynetworks="127.0.0.1/32")
    t = s.table("t", {"<>": "REJECT no bounces here"})
    s.update({"smtpd_sender_restrictions": "check_sender_access " + t})
    o = s.start()
    sess = Smtp(o, source=OUTSIDER)
    sess.ehlo()
    stage_reply = sess.mail("")
    if stage_reply.code == 250:
        stage_reply = sess.rcpt("<user@%s>" % HOSTED)
    assert_reply(stage_reply, "554 5.7.1 <>: Sender address rejected: "
                 "no bounces here")
    sess.quit()


def test_sender_access_domain_key(ostia_factory):
    """check_sender_access finds the domain when the address is not
    listed (access(5) lookup order)."""
    s = hosting(Setup(ostia_factory), mynetworks="127.0.0.1/32")
    t = s.table("t", {"spam.example": "REJECT domain blocked"})
    s.update({"smtpd_sender_restrictions": "check_sender_access " + t})
    o = s.start()
    sess = Smtp(o, source=OUTSIDER)
    sess.ehlo()
    assert sess.mail("anyone@spam.example").code == 250
    assert_reply(sess.rcpt("<user@%s>" % HOSTED),
                 "554 5.7.1 <{s}>: Sender address rejected: domain blocked",
                 s="anyone@spam.example")
    sess.quit()
