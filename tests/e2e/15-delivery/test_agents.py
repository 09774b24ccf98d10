# SPDX-License-Identifier: MIT
"""The discard, error and retry agents (master.cf services `discard`,
`error`, `retry`), reached through transport_maps.  smtpd refuses at RCPT
an address routed to a transport named error or retry (as Postfix
does), so those two are reached through a virtual alias, expanded by the
queue manager after smtpd accepted the alias.

discard: the recipient is done, nothing is delivered, nobody is told,
and the log says it was discarded.  error (error:TEXT): the recipient
bounces with TEXT, in the log and in the notice to the sender.  retry
(a service running the error command): the recipient is deferred, the
message stays queued with the reason.
"""

import os
import re
import shutil
import tempfile

from delivery_e2e import (DISCARD_DOMAIN, ERROR_ALIAS, ERROR_TEXT,
                          LMTP_DOMAIN, PROC, QUEUE_ID, RETRY_ALIAS,
                          RETRY_TEXT, SENDER,
                          VDOMAIN, agent_log_re, check_dsn_structure,
                          make_message, token)

ALICE = "alice@" + VDOMAIN


def test_discard(delivery):
    d = delivery().start()
    tok = token()
    gone = "x@" + DISCARD_DOMAIN
    d.send([ALICE, gone], make_message(tok, to=gone))
    d.wait_messages(ALICE, 1, tok)
    line = d.wait_log(agent_log_re(gone, "sent") + r".*$").group(0)
    assert "discard" in line.lower(), \
        "the log should say the recipient was discarded: %r" % line
    d.wait_queue_empty()
    files = d.all_maildir_files()
    assert len(files) == 1, "only alice's copy may exist: %r" % files
    assert not d.messages(SENDER), "a discard must not notify the sender"


def test_error_bounces_with_text(delivery):
    d = delivery().start()
    tok = token()
    rcpt = "x@errsvc.test"              # ERROR_ALIAS's target
    d.send(ERROR_ALIAS, make_message(tok, to=ERROR_ALIAS))
    d.wait_log(agent_log_re(rcpt, "bounced", re.escape(ERROR_TEXT)))
    dsn = d.wait_dsn(SENDER, tok)
    check_dsn_structure(dsn)
    r = dsn.recipient(rcpt)
    assert r.get("action") == "failed", dsn.describe()
    assert r.get("status", "").startswith("5."), dsn.describe()
    assert ERROR_TEXT in dsn.text or \
        ERROR_TEXT in r.get("diagnostic-code", ""), \
        "the error text should reach the sender:\n" + dsn.describe()
    d.wait_queue_empty()


def test_retry_service_defers(delivery):
    d = delivery().start()
    tok = token()
    rcpt = "x@retrysvc.test"            # RETRY_ALIAS's target
    qid = d.send(RETRY_ALIAS, make_message(tok, to=RETRY_ALIAS))
    d.wait_log(agent_log_re(rcpt, "deferred", re.escape(RETRY_TEXT)))
    e = d.wait_listed(qid, lambda e: RETRY_TEXT in e.reason,
                      "with the deferral reason")
    assert e.rcpts == [RETRY_ALIAS], e
    assert d.spool_has(qid)
    assert not d.messages(SENDER)
    assert not re.search(PROC + QUEUE_ID + r": to=<%s>.*status=bounced"
                         % re.escape(rcpt), d.o.log_text())


def test_pipe_transport_time_limit(delivery):
    """TRANSPORT_time_limit (Postfix's per-transport limit) bounds a pipe
    command before command_time_limit does: the command is killed and
    the mail deferred with words that name the limit."""
    d = delivery()
    d.master_extra = ("slow unix - n n - 1 pipe\n"
                      "  user=nobody argv=/bin/sleep 60\n")
    d.route(LMTP_DOMAIN, "slow:")
    d.params["slow_time_limit"] = "2s"
    d.start()
    rcpt = "a@" + LMTP_DOMAIN
    qid = d.send(rcpt)
    d.wait_log(agent_log_re(rcpt, "deferred", r"command /bin/sleep did not "
                            r"finish within its time limit \(2 seconds"))
    d.wait_listed(qid, lambda e: "time limit" in e.reason,
                  "deferred by the time limit")


CONCURRENCY_PROBE = """\
import glob, os, sys, time
d = sys.argv[1]
mine = os.path.join(d, "run.%d" % os.getpid())
open(mine, "w").close()
n = len(glob.glob(os.path.join(d, "run.*")))
with open(os.path.join(d, "counts"), "a") as f:
    f.write("%d\\n" % n)
time.sleep(0.7)
os.unlink(mine)
"""


def test_active_limit_holds_the_rest_back(delivery):
    """qmgr_message_active_limit = 2 with a slow transport that could
    run 4 at once: the queue manager says once that it holds its limit
    and the rest wait in incoming/, loads them as the first ones are
    done, never runs more than 2 deliveries at a time (the command
    counts its running copies), and delivers every message exactly
    once."""
    probe = tempfile.mkdtemp(prefix="ostia-active-")
    os.chmod(probe, 0o777)
    script = os.path.join(probe, "probe.py")
    with open(script, "w") as f:
        f.write(CONCURRENCY_PROBE)
    os.chmod(script, 0o644)
    d = delivery()
    d.master_extra = ("slow unix - n n - 4 pipe\n"
                      "  user=nobody argv=/usr/bin/python3 %s %s\n"
                      % (script, probe))
    d.route(LMTP_DOMAIN, "slow:")
    d.params["qmgr_message_active_limit"] = "2"
    d.start()
    try:
        rcpts = ["r%d@%s" % (i, LMTP_DOMAIN) for i in range(8)]
        qids = [d.send(r) for r in rcpts]
        d.wait_log(r"ostia/queue\[\d+\]: the queue manager holds 2 "
                   r"messages, its qmgr_message_active_limit: newer ones "
                   r"wait in incoming/")
        for r in rcpts:
            d.wait_log(agent_log_re(r, "sent"))
        d.wait_queue_empty()
        log = d.o.log_text()
        for q, r in zip(qids, rcpts):
            assert len(re.findall(r"ostia/pipe\[\d+\]: %s: to=<%s>.*"
                                  r"status=sent" % (q, re.escape(r)),
                                  log)) == 1, (q, r)
        with open(os.path.join(probe, "counts")) as f:
            counts = [int(x) for x in f.read().split()]
        assert len(counts) == 8 and max(counts) <= 2, counts
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def test_clog_warning(delivery):
    """qmgr_message_active_limit = 4 and a destination that takes one
    message at a time, slowly: its mail fills the active queue, and the
    queue manager names it in a warning (once per
    qmgr_clog_warn_time, here an hour), then delivers everything."""
    d = delivery()
    d.master_extra = ("slow unix - n n - 1 pipe\n"
                      "  user=nobody argv=/bin/sleep 1\n")
    d.route(LMTP_DOMAIN, "slow:")
    d.params["qmgr_message_active_limit"] = "4"
    d.params["qmgr_clog_warn_time"] = "1h"
    d.start()
    mark = d.o.log_mark()
    rcpts = ["r%d@%s" % (i, LMTP_DOMAIN) for i in range(7)]
    for r in rcpts:
        d.send(r)
    clog = (r"warning: mail for %s \(transport slow\) is using up \d+ of 4 "
            r"active queue entries: other mail waits behind it"
            % re.escape(LMTP_DOMAIN))
    d.wait_log(clog, start=mark)
    for r in rcpts:
        d.wait_log(agent_log_re(r, "sent"), start=mark)
    assert d.log_count(clog, start=mark) == 1


ENV_DUMP = """\
import json, os, sys
with open(os.path.join(sys.argv[1], "env.json"), "w") as f:
    json.dump(dict(os.environ), f)
"""


def test_pipe_command_environment(delivery):
    """import_environment decides what the master passes to Ostia's
    processes (here LANG=C.UTF-8 instead of LANG=C), export_environment
    what the pipe agent passes on to its command (NAME: the agent's own
    value; NAME=VALUE: that value), after the agent's own variables and
    with PATH=/usr/bin:/bin unless exported; nothing else of the agent's
    environment reaches the command."""
    out = tempfile.mkdtemp(prefix="ostia-env-")
    try:
        os.chmod(out, 0o777)
        script = os.path.join(out, "dump.py")
        with open(script, "w") as f:
            f.write(ENV_DUMP)
        os.chmod(script, 0o644)
        d = delivery()
        d.master_extra = ("envdump unix - n n - 1 pipe\n"
                          "  user=nobody argv=/usr/bin/python3 %s %s\n"
                          % (script, out))
        d.route(LMTP_DOMAIN, "envdump:")
        d.params["import_environment"] = "MAIL_CONFIG TZ LANG=C.UTF-8"
        d.params["export_environment"] = ("LANG TZ FROM_TEST=yes "
                                          "HOME=/nowhere NOT_SET_ANYWHERE")
        d.start()
        rcpt = "a@" + LMTP_DOMAIN
        d.send(rcpt)
        d.wait_log(agent_log_re(rcpt, "sent"))
        import json
        with open(os.path.join(out, "env.json")) as f:
            env = json.load(f)
        assert env.get("LANG") == "C.UTF-8", env
        assert env.get("FROM_TEST") == "yes", env
        assert env.get("PATH") == "/usr/bin:/bin", env
        assert env.get("RECIPIENT") == rcpt, env
        assert env.get("SENDER") == SENDER, env
        # The agent's own HOME (nobody's) wins over the exported one.
        assert env.get("HOME") != "/nowhere", env
        assert "NOT_SET_ANYWHERE" not in env, env
        for name in ("ASAN_OPTIONS", "OSTIA_TEST_CRASH", "MAIL_CONFIG"):
            assert name not in env, (name, env)
    finally:
        shutil.rmtree(out, ignore_errors=True)
