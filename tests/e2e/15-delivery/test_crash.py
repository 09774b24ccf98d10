# SPDX-License-Identifier: MIT
"""Crash safety of delivery: nothing accepted is lost, nothing is
delivered twice (beyond what the design allows).

Under a small load (200 messages over 5 SMTP sessions, smtplib, to 10
virtual mailboxes), the queue process is killed with SIGKILL, later a
virtual delivery agent process too; the master restarts them.  Then
every message that got "250 ... queued as" must end up in its
recipient's Maildir exactly once.

A duplicate is possible by design in one window only: the agent (or the
queue process) dies after the Maildir file was linked into new/ but
before the per-recipient status was recorded in status/ID; the message
is then delivered again on retry.  Such duplicates are printed with
their Maildir files; more than a handful fails the test.  Any loss fails
it.  Messages whose submission failed (the queue process was down) are
not counted; those that arrived anyway are reported.
"""

import os
import re
import signal
import smtplib
import threading

from delivery_e2e import (VDOMAIN, make_message, read_bytes, service_pids,
                          token)
from ostia_harness import wait_until

MAILBOXES = ["user%d" % i for i in range(10)]
SESSIONS = 5
PER_SESSION = 40
MAX_DUPLICATES = 5
TOKEN_RE = re.compile(rb"Subject: crash test (tok[0-9a-f]{20})")


class Load:
    def __init__(self, d):
        self.d = d
        self.lock = threading.Lock()
        self.accepted = {}      # token -> recipient
        self.uncertain = {}     # token -> (recipient, what happened)
        self.errors = []

    def n_accepted(self):
        with self.lock:
            return len(self.accepted)

    def session(self, k):
        s = None
        sent = 0
        tries = 0
        while sent < PER_SESSION and tries < PER_SESSION * 5:
            tries += 1
            rcpt = "%s@%s" % (MAILBOXES[(k * PER_SESSION + sent)
                                        % len(MAILBOXES)], VDOMAIN)
            tok = token()
            msg = make_message(tok, to=rcpt,
                               subject="crash test %s" % tok)
            try:
                if s is None:
                    s = smtplib.SMTP("127.0.0.1", self.d.o.port,
                                     local_hostname="load.test", timeout=60)
                    s.ehlo()
                code, resp = s.mail("load@client.test")
                if code != 250:
                    raise smtplib.SMTPResponseException(code, resp)
                code, resp = s.rcpt(rcpt)
                if code != 250:
                    raise smtplib.SMTPResponseException(code, resp)
                code, resp = s.data(msg)
            except (smtplib.SMTPException, OSError) as e:
                with self.lock:
                    self.uncertain[tok] = (rcpt, repr(e))
                try:
                    if s is not None:
                        s.close()
                except OSError:
                    pass
                s = None
                continue
            if code == 250:
                with self.lock:
                    self.accepted[tok] = rcpt
                sent += 1
            else:
                with self.lock:
                    self.uncertain[tok] = (rcpt, "%d %r" % (code, resp))
        if sent < PER_SESSION:
            with self.lock:
                self.errors.append("session %d sent only %d" % (k, sent))
        if s is not None:
            try:
                s.quit()
            except (smtplib.SMTPException, OSError):
                s.close()


def delivered_tokens(d):
    """token -> list of Maildir files holding it."""
    out = {}
    for name in MAILBOXES:
        for p in d.messages("%s@%s" % (name, VDOMAIN)):
            try:
                data = read_bytes(p)
            except FileNotFoundError:   # moved new/ -> cur/ meanwhile
                continue
            for t in set(TOKEN_RE.findall(data)):
                out.setdefault(t.decode(), []).append(p)
    return out


def kill_one(d, service, what):
    pids = wait_until(lambda: service_pids(d.o, service), 30, 0.05,
                      "a %s process to kill" % what)
    pid = pids[0]
    os.kill(pid, signal.SIGKILL)
    return pid


def test_kill_queue_and_agent_under_load(delivery):
    d = delivery(users=MAILBOXES)
    d.start()
    load = Load(d)
    threads = [threading.Thread(target=load.session, args=(k,), daemon=True)
               for k in range(SESSIONS)]
    for t in threads:
        t.start()
    total = SESSIONS * PER_SESSION

    wait_until(lambda: load.n_accepted() >= total // 5, 60, 0.01,
               "a fifth of the load accepted")
    q_old = kill_one(d, "queue", "queue process")
    wait_until(lambda: [p for p in service_pids(d.o, "queue")
                        if p != q_old], 30, 0.05,
               "the master to restart the queue process")

    wait_until(lambda: load.n_accepted() >= total * 3 // 5, 90, 0.01,
               "three fifths of the load accepted")
    v_old = kill_one(d, "virtual", "virtual agent")

    for t in threads:
        t.join(180)
    assert not any(t.is_alive() for t in threads), "SMTP sessions hung"
    with load.lock:
        accepted = dict(load.accepted)
        uncertain = dict(load.uncertain)
    print("accepted %d, failed submissions %d, session errors %r"
          % (len(accepted), len(uncertain), load.errors))
    print("killed queue pid %d and virtual agent pid %d" % (q_old, v_old))
    assert len(accepted) >= total // 2, \
        "too few messages accepted (%d of %d): %r\n%s" % (
            len(accepted), total, list(uncertain.values())[:5], d.diag())

    def all_in():
        got = delivered_tokens(d)
        return got if all(t in got for t in accepted) else None
    try:
        got = wait_until(all_in, 90, 0.5, "every accepted message in its "
                         "Maildir")
    except AssertionError as e:
        got = delivered_tokens(d)
        missing = sorted(t for t in accepted if t not in got)
        raise AssertionError(
            "%s: %d of %d accepted messages LOST (not in any Maildir), "
            "e.g. %r\n%s" % (e, len(missing), len(accepted),
                             [(t, accepted[t]) for t in missing[:10]],
                             d.diag())) from None
    d.wait_queue_empty(60)
    got = delivered_tokens(d)

    wrong_box = []
    duplicates = {}
    for t, rcpt in accepted.items():
        paths = got[t]
        box = d.maildir(rcpt)
        if any(not p.startswith(box + "/") for p in paths):
            wrong_box.append((t, rcpt, paths))
        if len(paths) > 1:
            duplicates[t] = paths
    late = {t: uncertain[t] for t in uncertain if t in got}
    if late:
        print("submissions without 250 that were delivered anyway "
              "(%d): %r" % (len(late), late))
    if duplicates:
        print("DUPLICATES (%d; allowed only for a kill between the "
              "Maildir link and the status record):" % len(duplicates))
        for t, paths in duplicates.items():
            print("  %s -> %s: %s" % (t, accepted[t], paths))
    else:
        print("no duplicates")
    assert not wrong_box, "messages in the wrong Maildir: %r" % wrong_box
    assert len(duplicates) <= MAX_DUPLICATES, \
        "%d messages delivered more than once (at most %d allowed):\n%r" % (
            len(duplicates), MAX_DUPLICATES, duplicates)
