# SPDX-License-Identifier: MIT
"""Canonical mapping and automatic BCC of envelope addresses (what
Postfix's cleanup does before a message is queued): sender_canonical_maps,
recipient_canonical_maps, canonical_maps, sender_bcc_maps,
recipient_bcc_maps, their *_canonical_classes, and
receive_override_options = no_address_mappings.

The restrictions see the addresses as the client gave them; the queue
file gets the mapped ones ('S' and 'R' records) and the BCCs (trailer
records 'b')."""

import re
import sqlite3

from policy_e2e import (ELSEWHERE, HOSTED, OUTSIDER, Setup, Smtp,
                        envelope_recipients, hosting, queue_file,
                        read_records, send_message, trailer_values)


def server(factory, **params):
    setup = hosting(Setup(factory))
    tables = params.pop("tables", {})
    for name, content in tables.items():
        params = {k: (v.replace("@%s@" % name, setup.table(name, content))
                      if isinstance(v, str) else v)
                  for k, v in params.items()}
    setup.update(params)
    return setup.start()


def sender_of(o, qid):
    return [p.decode() for t, p in read_records(queue_file(o, qid))
            if t == "S"]


def one(o, sender, rcpts):
    s = Smtp(o, source=OUTSIDER)
    s.ehlo()
    qid = send_message(s, sender, ["<%s>" % r for r in rcpts])
    s.quit()
    return qid


def test_canonical_maps_rewrite_the_queued_envelope(ostia_factory):
    o = server(ostia_factory, tables={
        "scanon": {"old@" + ELSEWHERE: "new@" + ELSEWHERE},
        "rcanon": {"alias@" + HOSTED: "alice@" + HOSTED},
        "canon": {"@" + ELSEWHERE: "@moved.example"}},
        sender_canonical_maps="@scanon@",
        recipient_canonical_maps="@rcanon@",
        canonical_maps="@canon@",
        smtpd_reject_unlisted_recipient="no")
    qid = one(o, "old@" + ELSEWHERE, ["alias@" + HOSTED, "bob@" + HOSTED])
    # sender_canonical_maps wins over canonical_maps (first match).
    assert sender_of(o, qid) == ["new@" + ELSEWHERE]
    assert envelope_recipients(o, qid) == ["alice@" + HOSTED,
                                           "bob@" + HOSTED]
    # canonical_maps alone: "@domain" keeps the local part.
    qid = one(o, "other@" + ELSEWHERE, ["bob@" + HOSTED])
    assert sender_of(o, qid) == ["other@moved.example"]


def test_canonical_classes_limit_the_mapping(ostia_factory):
    o = server(ostia_factory, tables={
        "canon": {"bob@" + HOSTED: "alice@" + HOSTED,
                  "x@" + ELSEWHERE: "y@" + ELSEWHERE}},
        canonical_maps="@canon@",
        canonical_classes="envelope_sender")
    qid = one(o, "x@" + ELSEWHERE, ["bob@" + HOSTED])
    assert sender_of(o, qid) == ["y@" + ELSEWHERE]
    assert envelope_recipients(o, qid) == ["bob@" + HOSTED]


def test_bcc_maps_add_trailer_recipients(ostia_factory):
    o = server(ostia_factory, tables={
        "sbcc": {"@" + ELSEWHERE: "archive-in@" + HOSTED},
        "rbcc": {"bob@" + HOSTED: "audit@" + HOSTED}},
        sender_bcc_maps="@sbcc@", recipient_bcc_maps="@rbcc@")
    qid = one(o, "x@" + ELSEWHERE, ["bob@" + HOSTED, "alice@" + HOSTED])
    assert sorted(trailer_values(o, qid, "b")) == [
        "archive-in@" + HOSTED, "audit@" + HOSTED]


def test_no_address_mappings_turns_it_off(ostia_factory):
    o = server(ostia_factory, tables={
        "canon": {"bob@" + HOSTED: "alice@" + HOSTED},
        "rbcc": {"bob@" + HOSTED: "audit@" + HOSTED}},
        canonical_maps="@canon@", recipient_bcc_maps="@rbcc@",
        receive_override_options="no_address_mappings")
    qid = one(o, "x@" + ELSEWHERE, ["bob@" + HOSTED])
    assert envelope_recipients(o, qid) == ["bob@" + HOSTED]
    assert trailer_values(o, qid, "b") == []


def test_a_failing_mapping_table_is_a_temporary_failure(ostia_factory):
    """Fail closed: a canonical table that cannot answer defers the
    command; the message is never queued with an unmapped address.  The
    table works at start (a broken one would stop the start) and breaks
    while Ostia runs."""
    setup = hosting(Setup(ostia_factory))
    db = setup.file("canon.sqlite", "")
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE canon (from_addr TEXT, to_addr TEXT)")
    con.commit()
    cf = setup.file("canon.cf", "dbpath = %s\nquery = SELECT to_addr "
                    "FROM canon WHERE from_addr = '%%s'\n" % db)
    setup.update({"recipient_canonical_maps": "sqlite:" + cf})
    o = setup.start()
    # One recipient through the working table first: the lookup
    # process has it open before it breaks.
    s = Smtp(o, source=OUTSIDER)
    s.ehlo()
    s.mail("x@" + ELSEWHERE)
    r = s.rcpt("<alice@%s>" % HOSTED)
    assert r.code == 250, r
    s.quit()
    con.execute("DROP TABLE canon")
    con.commit()
    con.close()
    mark = o.log_mark()
    s = Smtp(o, source=OUTSIDER)
    s.ehlo()
    s.mail("x@" + ELSEWHERE)
    r = s.rcpt("<bob@%s>" % HOSTED)
    assert (r.code, r.text.split()[0]) == (451, "4.3.0"), r
    s.quit()
    o.wait_for_log(r"warning: .*(address resolution|recipient address "
                   r"mapping) failed: .*recipient_canonical_maps",
                   start=mark)


def test_restrictions_see_the_address_the_client_gave(ostia_factory):
    """check_recipient_access matches the original recipient even when
    recipient_canonical_maps changes it."""
    o = server(ostia_factory, tables={
        "rcanon": {"bob@" + HOSTED: "alice@" + HOSTED},
        "acc": {"bob@" + HOSTED: "REJECT no bob here"}},
        recipient_canonical_maps="@rcanon@",
        smtpd_recipient_restrictions="check_recipient_access @acc@, "
        "permit")
    s = Smtp(o, source=OUTSIDER)
    s.ehlo()
    s.mail("x@" + ELSEWHERE)
    r = s.rcpt("<bob@%s>" % HOSTED)
    assert r.code == 554 and re.search("no bob here", r.text), r
    s.quit()
