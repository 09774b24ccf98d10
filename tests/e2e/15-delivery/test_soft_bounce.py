# SPDX-License-Identifier: MIT
"""soft_bounce = yes (src/common/soft_bounce.h): the safety net an admin
turns on while testing a new configuration.  Nothing is refused or
returned for good: smtpd sends its 5xx replies as 4xx (and logs what it
sent), and mail that a delivery agent refuses for good, or that stays
queued past maximal_queue_lifetime, is kept in the queue, with a reason
that says why.  Turning it off again lets that mail bounce at its next
attempt.  Each test also checks the same situation without soft_bounce,
so that it fails if the setting changed nothing."""

import smtplib
import time

from ostia_harness import wait_until

from delivery_e2e import (ERROR_DOMAIN, SENDER, VDOMAIN, agent_log_re,
                          check_dsn_structure, make_message, token)

GHOST = "ghost@" + VDOMAIN
# What the queue manager adds to the reason of a refusal it kept.
SOFT = r".*\(kept in the queue: soft_bounce = yes; it would have bounced\)"


def reconfigure(d, params):
    """Change main.cf and reload; return once every child of the old
    configuration has gone (smtpd, queue manager, agents)."""
    old = set(d.o.child_pids())
    d.o.update_main_cf(params)
    mark = d.o.log_mark()
    d.o.reload()
    d.o.wait_for_log(r"reload done: configuration generation", start=mark)
    wait_until(lambda: not old & set(d.o.child_pids()), timeout=30,
               what="the children of the old configuration to stop")


def rcpt_reply(d, rcpt):
    s = smtplib.SMTP("127.0.0.1", d.o.port, local_hostname="client.test",
                     timeout=10)
    try:
        s.ehlo()
        assert s.mail(SENDER)[0] == 250
        code, text = s.rcpt(rcpt)
        cmd_code, cmd_text = s.docmd("BOGUS")
        return code, text.decode(), cmd_code, cmd_text.decode()
    finally:
        s.close()


def test_smtpd_sends_5xx_as_4xx(delivery):
    d = delivery().start()
    code, text, cmd_code, _ = rcpt_reply(d, GHOST)
    assert code == 550 and text.startswith("5.1.1"), (code, text)
    assert 500 <= cmd_code < 600, cmd_code

    reconfigure(d, {"soft_bounce": "yes"})
    start = len(d.o.log_text())
    code, text, cmd_code, cmd_text = rcpt_reply(d, GHOST)
    assert code == 450 and text.startswith("4.1.1"), (code, text)
    assert "Recipient address rejected" in text, text
    assert 400 <= cmd_code < 500 and cmd_text.startswith("4."), \
        (cmd_code, cmd_text)
    # The reject log line shows the reply the client got.
    d.wait_log(r"NOQUEUE: reject: RCPT from \S+: 450 4\.1\.1 <%s>" %
               GHOST.replace(".", r"\."), start=start)
    assert not d.spool_ids(), "a rejected recipient queued a message"


def test_refused_mail_stays_queued_until_soft_bounce_is_off(delivery):
    d = delivery()
    d.params.update({"soft_bounce": "yes",
                     # Let smtpd accept it: the virtual agent refuses.
                     "smtpd_reject_unlisted_recipient": "no",
                     "maximal_queue_lifetime": "2s",
                     "bounce_queue_lifetime": "2s"})
    d.start()
    tok = token()
    err = "x@" + ERROR_DOMAIN
    qid = d.send([GHOST, err], make_message(tok, to=GHOST))
    d.wait_log(agent_log_re(GHOST, "deferred", r"[^)]*unknown" + SOFT))
    d.wait_log(agent_log_re(err, "deferred", SOFT))
    e = d.wait_listed(qid, lambda e: "soft_bounce" in e.reason,
                      "with the soft_bounce reason")
    assert set(e.rcpts) == {GHOST, err}, e
    # Past its lifetime it is still kept, and says so.
    d.wait_log(r"%s: in the queue for longer than 2 seconds; kept because "
               r"soft_bounce = yes" % qid)
    time.sleep(1)
    assert qid in d.spool_ids(), d.diag()
    assert d.messages(SENDER) == [], "a notice was sent under soft_bounce"
    assert d.log_count(r"%s: .*status=bounced" % qid) == 0, d.diag()

    # Off again (and no longer expired): the next attempt returns it,
    # with the agent's own 5.1.1.
    reconfigure(d, {"soft_bounce": "no", "maximal_queue_lifetime": "5d",
                    "bounce_queue_lifetime": "5d"})
    d.queue("flush", qid)
    dsn = d.wait_dsn(SENDER, tok)
    check_dsn_structure(dsn)
    assert dsn.recipient(GHOST).get("status") == "5.1.1", dsn.describe()
    assert dsn.recipient(GHOST).get("action") == "failed", dsn.describe()
    d.wait_queue_empty()
