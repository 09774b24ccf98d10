# SPDX-License-Identifier: MIT
"""smtpd_milters against real libmilter filters: a pymilter filter
(tests/e2e/milter_server.py) for every reply and edit, and OpenDKIM,
whose signature in the queued message must verify.

Queued messages stay in the queue: content_filter points at a port
nothing listens on, so the queue manager defers them."""

import json
import os
import shutil
import subprocess
import tempfile

import pytest

from ostia_harness import exact_content_factory, free_port, wait_until
from policy_e2e import (ELSEWHERE, HOSTED, INSIDER, Setup, Smtp,
                        assert_nothing_new, envelope_recipients, hosting,
                        message_bytes, queue_files, read_records,
                        queue_file, send_message, trailer_values)

E2E = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = "/usr/bin/python3"
DEAD_FILTER = "smtp:[127.0.0.1]:9"


def have_pymilter():
    return subprocess.run([PY, "-c", "import Milter"],
                          capture_output=True).returncode == 0


class Filter:
    """milter_server.py on a free port; its record of what it saw."""

    def __init__(self, *args, port=None):
        self.dir = tempfile.mkdtemp(prefix="ostia-milter-")
        self.record = os.path.join(self.dir, "record.jsonl")
        open(self.record, "w").close()
        self.port = port if port is not None else free_port()
        self.proc = subprocess.Popen(
            [PY, os.path.join(E2E, "milter_server.py"), str(self.port),
             self.record] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.proc.stdout.readline().strip() == b"ready"
        wait_until(self._listening, timeout=10, what="the milter listening")

    def _listening(self):
        import socket
        try:
            socket.create_connection(("127.0.0.1", self.port), 1).close()
            return True
        except OSError:
            return False

    def events(self):
        with open(self.record, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def quiet_milter():
    if not have_pymilter():
        pytest.skip("python3-milter (pymilter) is not installed")
    f = Filter("quiet")
    yield f
    f.stop()


@pytest.fixture
def ostia_factory(ostia_factory):
    """The stored messages are compared with what was sent byte for byte
    (ostia_harness.exact_content_factory)."""
    return exact_content_factory(ostia_factory)


def start(factory, milters, **params):
    setup = hosting(Setup(factory), mynetworks="127.0.0.0/8")
    setup.update({"content_filter": DEAD_FILTER,
                  "smtpd_recipient_restrictions":
                  "permit_mynetworks, reject_unauth_destination",
                  "smtpd_milters": milters,
                  "milter_command_timeout": "5s",
                  "milter_content_timeout": "5s"})
    setup.update(params)
    return setup.start()


def msg(subject, extra=b"", body=b"Hello.\r\n"):
    return (b"From: someone@elsewhere.example\r\n"
            b"To: bob@hosted.example\r\n"
            b"Subject: " + subject.encode() + b"\r\n" + extra +
            b"\r\n" + body)


def session(o):
    s = Smtp(o, source=INSIDER)
    s.ehlo()
    return s


def test_events_macros_and_what_the_filter_sees(ostia_factory, milter):
    o = start(ostia_factory, "inet:127.0.0.1:%d" % milter.port)
    s = session(o)
    body = b"Line one.\r\nLine two.\r\n"
    qid = send_message(s, "x@" + ELSEWHERE, ["<bob@%s>" % HOSTED],
                       message=msg("hello", b"X-Folded: a\r\n\tb\r\n", body))
    s.quit()
    ev = wait_until(lambda: [e for e in milter.events()
                             if e["event"] == "eom"] and milter.events(),
                    what="the filter's end of message")
    kinds = [e["event"] for e in ev]
    assert kinds[:4] == ["connect", "helo", "mail", "rcpt"], kinds
    assert kinds.index("eoh") < kinds.index("eom")
    conn = ev[0]
    assert conn["addr"] == "127.0.0.1"
    assert conn["macros"]["j"] == "mx.ours.example"
    assert conn["macros"]["{daemon_name}"] == "mx.ours.example"
    mail = ev[kinds.index("mail")]
    assert mail["sender"] == "<x@%s>" % ELSEWHERE
    assert mail["macros"]["{mail_addr}"] == "x@" + ELSEWHERE
    rcpt = ev[kinds.index("rcpt")]
    assert rcpt["rcpt"] == "<bob@%s>" % HOSTED
    assert rcpt["macros"]["{rcpt_addr}"] == "bob@" + HOSTED
    # The queue ID is known from the end of the first RCPT on (as in
    # Postfix with smtpd_delay_open_until_valid_rcpt).
    headers = [(e["name"], e["value"]) for e in ev if e["event"] == "header"]
    # Our own Received: stays out of the filter's sight, as in Sendmail.
    assert headers == [("From", "someone@elsewhere.example"),
                       ("To", "bob@hosted.example"),
                       ("Subject", "hello"),
                       ("X-Folded", "a\n\tb")], headers
    eom = ev[kinds.index("eom")]
    assert eom["body"] == body.decode()
    assert eom["macros"]["i"] == qid
    # Nothing changed: the queued text is what the client sent.
    stored = message_bytes(o, qid)
    assert stored.startswith(b"Received: ")
    assert stored.endswith(msg("hello", b"X-Folded: a\r\n\tb\r\n", body))


def test_filter_without_replies_and_its_own_macros(ostia_factory,
                                                   quiet_milter,
                                                   milter):
    """Two filters in a row: the first asks for no replies to most
    events and its own MAIL macros; the second edits the headers, and
    the first one's view is not affected by it (it came first)."""
    o = start(ostia_factory, "inet:127.0.0.1:%d, inet:127.0.0.1:%d" %
              (quiet_milter.port, milter.port))
    s = session(o)
    qid = send_message(s, "x@" + ELSEWHERE, ["<bob@%s>" % HOSTED],
                       message=msg("edit-headers", b"X-Remove: me\r\n",
                                   b"One.\r\nTwo.\r\n"))
    # A second transaction on the same connections.
    qid2 = send_message(s, "y@" + ELSEWHERE, ["<bob@%s>" % HOSTED],
                        message=msg("hello"))
    s.quit()
    ev = quiet_milter.events()
    kinds = [e["event"] for e in ev]
    assert kinds.count("mail") == 2 and kinds.count("eom") == 2, kinds
    mail = ev[kinds.index("mail")]
    # SETSYMLIST: {client_addr} is in no default list for MAIL.
    assert mail["macros"].get("{client_addr}") == "127.0.0.1", mail
    assert mail["macros"].get("{mail_addr}") == "x@" + ELSEWHERE
    eom = ev[kinds.index("eom")]
    assert eom["body"] == "One.\r\nTwo.\r\n"
    assert ("Subject", "edit-headers") in [
        (e["name"], e["value"]) for e in ev if e["event"] == "header"]
    stored = message_bytes(o, qid).decode()
    assert "Subject: changed by the filter\r\n" in stored
    assert "X-Remove" not in stored
    assert qid2 in queue_files(o)


def test_rejects_at_rcpt_and_a_reply_of_its_own(ostia_factory, milter):
    o = start(ostia_factory, "inet:127.0.0.1:%d" % milter.port)
    mark = o.log_mark()
    s = session(o)
    assert s.mail("x@%s" % ELSEWHERE).code == 250
    r = s.rcpt("<bob+reject@%s>" % HOSTED)
    assert (r.code, r.raw[-1]) == (550, "550 5.7.1 Command rejected")
    r = s.rcpt("<bob+tempfail@%s>" % HOSTED)
    assert r.code == 451 and r.raw[-1].startswith("451 4.7.1 ")
    r = s.rcpt("<bob+custom@%s>" % HOSTED)
    assert r.raw[-1] == "550 5.7.0 custom says no"
    # The session goes on: another recipient is accepted and queued.
    assert s.rcpt("<bob@%s>" % HOSTED).code == 250
    r, final = s.data(msg("hello"))
    assert final.code == 250
    s.quit()
    log = o.log_text()[mark:]
    assert "milter-reject: RCPT from" in log
    assert "milter inet:127.0.0.1:%d" % milter.port in log


def test_reject_at_end_of_message_queues_nothing(ostia_factory, milter):
    o = start(ostia_factory, "inet:127.0.0.1:%d" % milter.port)
    before = queue_files(o)
    s = session(o)
    assert s.mail("x@%s" % ELSEWHERE).code == 250
    assert s.rcpt("<bob@%s>" % HOSTED).code == 250
    r, final = s.data(msg("reject"))
    assert final.raw[-1] == "550 5.7.1 Message content rejected"
    s.quit()
    assert_nothing_new(o, before, "a message the filter rejected")


def test_message_the_filters_cannot_be_given_is_refused(ostia_factory,
                                                       milter):
    """More header lines than Ostia hands to filters: refused, never
    queued unfiltered."""
    o = start(ostia_factory, "inet:127.0.0.1:%d" % milter.port)
    before = queue_files(o)
    s = session(o)
    assert s.mail("x@%s" % ELSEWHERE).code == 250
    assert s.rcpt("<bob@%s>" % HOSTED).code == 250
    many = b"".join(b"X-N: %d\r\n" % i for i in range(10001))
    r, final = s.data(msg("hello", many))
    assert final.raw[-1].startswith("552 5.6.0 "), final
    s.quit()
    assert_nothing_new(o, before, "a message the filters could not see")


def test_discard_answers_250_and_queues_nothing(ostia_factory, milter):
    o = start(ostia_factory, "inet:127.0.0.1:%d" % milter.port)
    before = queue_files(o)
    s = session(o)
    assert s.mail("discard@%s" % ELSEWHERE).code == 250
    assert s.rcpt("<bob@%s>" % HOSTED).code == 250
    r, final = s.data(msg("hello"))
    assert final.code == 250
    s.quit()
    assert_nothing_new(o, before, "a message the filter discarded")


def test_header_edits(ostia_factory, milter):
    o = start(ostia_factory, "inet:127.0.0.1:%d" % milter.port)
    s = session(o)
    qid = send_message(s, "x@" + ELSEWHERE, ["<bob@%s>" % HOSTED],
                       message=msg("edit-headers", b"X-Remove: me\r\n"))
    s.quit()
    stored = message_bytes(o, qid).decode()
    head, _, body = stored.partition("\r\n\r\n")
    lines = head.split("\r\n")
    # Received: stays first; the inserted header comes right after it.
    assert lines[0].startswith("Received: ")
    first = [l for l in lines if not l.startswith(("\t", " "))]
    assert first[1] == "X-Milter-First: top", first
    assert "Subject: changed by the filter" in lines
    assert "X-Milter-Added: yes" == first[-1]
    assert not any(l.startswith("X-Remove") for l in lines)
    assert body == "Hello.\r\n"
    # The file is whole and consistent (X counts the new size).
    recs = read_records(queue_file(o, qid))
    assert int(recs[-1][1]) == len(stored.encode())


def test_envelope_edits(ostia_factory, milter):
    o = start(ostia_factory, "inet:127.0.0.1:%d" % milter.port)
    s = session(o)
    qid = send_message(s, "x@" + ELSEWHERE,
                       ["<bob@%s>" % HOSTED, "<user@%s>" % HOSTED],
                       message=msg("edit-envelope"))
    s.quit()
    assert sorted(envelope_recipients(o, qid)) == \
        ["alice@" + HOSTED, "user@" + HOSTED]
    sender = [p.decode() for t, p in read_records(queue_file(o, qid))
              if t == "S"]
    assert sender == ["changed@" + ELSEWHERE]


def test_body_replacement_and_quarantine(ostia_factory, milter):
    o = start(ostia_factory, "inet:127.0.0.1:%d" % milter.port)
    s = session(o)
    q1 = send_message(s, "x@" + ELSEWHERE, ["<bob@%s>" % HOSTED],
                      message=msg("replace-body"))
    q2 = send_message(s, "x@" + ELSEWHERE, ["<bob@%s>" % HOSTED],
                      message=msg("quarantine"))
    s.quit()
    stored = message_bytes(o, q1)
    assert stored.endswith(b"Subject: replace-body\r\n\r\nReplaced.\r\n")
    hold = trailer_values(o, q2, "Q")
    assert len(hold) == 1 and "looks suspicious" in hold[0], hold


def test_unreachable_filter_default_actions(ostia_factory):
    dead = "inet:127.0.0.1:%d" % free_port()
    # tempfail (the default): every command after the failure gets 451.
    o = start(ostia_factory, dead)
    mark = o.log_mark()
    s = Smtp(o, source=INSIDER)
    r = s.cmd("EHLO mail.elsewhere.example")
    assert r.code == 451 and r.raw[-1].startswith("451 4.7.1"), r
    r = s.mail("x@%s" % ELSEWHERE)
    assert r.code == 451 and r.raw[-1].startswith("451 4.7.1"), r
    s.quit()
    log = o.log_text()[mark:]
    assert "milter %s: cannot connect" % dead in log
    assert "its default_action is tempfail" in log
    o.stop()


def test_unreachable_filter_accept_goes_on(ostia_factory):
    dead = "inet:127.0.0.1:%d" % free_port()
    o = start(ostia_factory, "{ %s, default_action = accept }" % dead)
    s = session(o)
    qid = send_message(s, "x@" + ELSEWHERE, ["<bob@%s>" % HOSTED],
                       message=msg("hello"))
    s.quit()
    assert qid in queue_files(o)


def test_filter_that_does_not_answer_in_time(ostia_factory, milter):
    o = start(ostia_factory, "inet:127.0.0.1:%d" % milter.port,
              milter_content_timeout="2s")
    mark = o.log_mark()
    before = queue_files(o)
    s = session(o)
    assert s.mail("x@%s" % ELSEWHERE).code == 250
    assert s.rcpt("<bob@%s>" % HOSTED).code == 250
    r, final = s.data(msg("slow"))
    assert final.code == 451, final
    s.quit()
    assert "no reply within milter_content_timeout (2s)" in \
        o.log_text()[mark:]
    assert_nothing_new(o, before, "a message whose filter timed out")


# ---------------------------------------------------------------- OpenDKIM

def test_opendkim_signature_verifies(ostia_factory, opendkim):
    o = start(ostia_factory, "inet:127.0.0.1:%d" % opendkim.port)
    s = session(o)
    text = (b"From: someone@elsewhere.example\r\n"
            b"To: bob@hosted.example\r\n"
            b"Subject: signed by opendkim\r\n"
            b"Date: Mon, 30 Nov 2026 05:00:00 +0000\r\n"
            b"Message-ID: <dkim-test@elsewhere.example>\r\n"
            b"\r\n"
            b"Signed body.\r\n")
    qid = send_message(s, "someone@" + ELSEWHERE, ["<bob@%s>" % HOSTED],
                       message=text)
    s.quit()
    stored = message_bytes(o, qid)
    assert b"DKIM-Signature:" in stored, stored[:500]
    assert opendkim.verify(stored), \
        "the signature opendkim made does not verify: %r" % stored
