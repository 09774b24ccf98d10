# SPDX-License-Identifier: MIT
"""The after-queue content filter hand-off, at the queue level (the
delivery agents that carry it out come with the queue manager issue):
content_filter in main.cf and per service (-o), the FILTER access
result winning over it, and the seed's re-injection listener
(-o content_filter=) queueing without a filter, exactly once."""

from policy_e2e import (ELSEWHERE, HOSTED, INSIDER, Setup, Smtp, hosting,
                        queue_files, send_message, trailer_values)

AMAVIS = "smtp-amavis:[127.0.0.1]:10024"

MASTER = (
    "127.0.0.1:@port:smtp@ inet n - n - - smtpd\n"
    "127.0.0.1:@port:submission@ inet n - n - - smtpd\n"
    "  -o content_filter=smtp-amavis:[127.0.0.1]:10026\n"
    "127.0.0.1:@port:reinject@ inet n - n - - smtpd\n"
    "  -o content_filter=\n"
    "  -o smtpd_recipient_restrictions=permit_mynetworks,reject\n"
    "  -o receive_override_options=no_header_body_checks,"
    "no_unknown_recipient_checks,no_address_mappings\n")


def start(factory, **params):
    setup = hosting(Setup(factory, master_cf=MASTER),
                    mynetworks="127.0.0.0/8")
    setup.update({"content_filter": AMAVIS})
    setup.update(params)
    return setup, setup.start()


def send(o, service, rcpt="bob@" + HOSTED):
    s = Smtp(o, source=INSIDER, service=service)
    s.ehlo()
    qid = send_message(s, "x@" + ELSEWHERE, ["<%s>" % rcpt])
    s.quit()
    return qid


def test_content_filter_is_recorded_per_service(ostia_factory):
    _, o = start(ostia_factory)
    before = set(queue_files(o))
    q1 = send(o, "smtp")
    q2 = send(o, "submission")
    q3 = send(o, "reinject")
    assert trailer_values(o, q1, "F") == [AMAVIS]
    assert trailer_values(o, q2, "F") == ["smtp-amavis:[127.0.0.1]:10026"]
    # The filter's re-injection: queued once, with no filter, so it
    # goes on to its final delivery instead of back to the filter.
    assert trailer_values(o, q3, "F") == []
    assert set(queue_files(o)) - before == {q1, q2, q3}


def test_filter_action_wins_over_content_filter(ostia_factory):
    setup = hosting(Setup(ostia_factory, master_cf=MASTER),
                    mynetworks="127.0.0.0/8")
    acc = setup.table("acc", {"bob@" + HOSTED: "FILTER lmtp:unix:private/scan"})
    setup.update({"content_filter": AMAVIS,
                  "smtpd_recipient_restrictions":
                  "check_recipient_access %s, permit_mynetworks, "
                  "reject_unauth_destination" % acc})
    o = setup.start()
    q = send(o, "smtp")
    assert trailer_values(o, q, "F") == ["lmtp:unix:private/scan"]
    q = send(o, "smtp", rcpt="alice@" + HOSTED)
    assert trailer_values(o, q, "F") == [AMAVIS]
