# SPDX-License-Identifier: MIT
"""Postfix's command names, as symbolic links to ostia: postqueue,
postsuper, postconf, postmap, postfix and postcat, with the options
scripts and monitoring use.

postqueue -p is mailq; postqueue -j prints one JSON object per message
with Postfix's fields (Prometheus' postfix exporter and monitoring
plugins read it), for root and, through the public queue service, for
any user authorized_mailq_users allows; postsuper -h/-H/-d/-r with an
ID, ALL, ALL limited to queues, and IDs from standard input ("-");
postconf -h NAME and -n; postmap -q; postfix status, check, reload,
flush; postcat -q ID.
"""

import json

import pytest

from delivery_e2e import (RETRY_ALIAS, SENDER, make_message, parse_queue,
                          token)
from test_sendmail import PLAIN_USER, ROOT, make_setgid, plain_user, run


def cmd(bindir, d, name, args, data=b"", user=None):
    return run(bindir, d, args, data, name=name, user=user, copt="-c")


def deferred_message(d):
    qid = d.send(RETRY_ALIAS, make_message(token(), to=RETRY_ALIAS))
    d.wait_listed(qid, lambda e: e.reason and e.flag == "",
                  "as deferred, with a reason")
    return qid


def listed(d):
    r = d.queue()
    assert r.returncode == 0, r.stderr
    return parse_queue(r.stdout)[0]


def test_postqueue_p_and_j(delivery, bindir):
    d = delivery().start()
    qid = deferred_message(d)
    r = cmd(bindir, d, "postqueue", ["-p"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == d.queue().stdout
    r = cmd(bindir, d, "postqueue", ["-j"])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert len(lines) == 1, lines
    m = json.loads(lines[0])
    assert m["queue_name"] == "deferred" and m["queue_id"] == qid, m
    assert isinstance(m["arrival_time"], int) and m["message_size"] > 0
    assert m["forced_expire"] is False
    assert m["sender"] == SENDER, m
    [rcpt] = m["recipients"]
    assert rcpt["address"] == RETRY_ALIAS, m
    assert rcpt.get("delay_reason"), m
    # An empty queue: no output at all.
    assert cmd(bindir, d, "postsuper", ["-d", qid]).returncode == 0
    r = cmd(bindir, d, "postqueue", ["-j"])
    assert r.returncode == 0 and r.stdout == b"", r
    # Usage errors are said.
    r = cmd(bindir, d, "postqueue", ["-x"])
    assert r.returncode == 2 and b"usage: postqueue" in r.stderr, r


@pytest.mark.skipif(not ROOT, reason="needs root to run as another user")
def test_postqueue_j_as_nobody(delivery, bindir):
    plain_user()
    d = delivery().start()
    make_setgid(bindir)
    qid = deferred_message(d)
    r = cmd(bindir, d, "postqueue", ["-j"], user=PLAIN_USER)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.decode().splitlines()[0])["queue_id"] == qid


def test_postsuper(delivery, bindir):
    d = delivery().start()
    qid = deferred_message(d)
    # ALL limited to a queue that does not hold it: nothing happens.
    r = cmd(bindir, d, "postsuper", ["-h", "ALL", "incoming"])
    assert r.returncode == 0, r.stderr
    assert listed(d)[qid].flag == "", listed(d)[qid]
    # Held, then released.
    r = cmd(bindir, d, "postsuper", ["-h", "ALL", "deferred"])
    assert r.returncode == 0, r.stderr
    assert listed(d)[qid].flag == "!"
    r = cmd(bindir, d, "postsuper", ["-H", "ALL"])
    assert r.returncode == 0, r.stderr
    assert listed(d)[qid].flag != "!"
    # Requeue by ID, then delete with the ID on standard input.
    r = cmd(bindir, d, "postsuper", ["-r", qid])
    assert r.returncode == 0, r.stderr
    r = cmd(bindir, d, "postsuper", ["-d", "-"], data=(qid + "\n").encode())
    assert r.returncode == 0, r.stderr
    assert qid not in listed(d)
    # A bad ID and an unknown option.
    r = cmd(bindir, d, "postsuper", ["-d", "nonsense"])
    assert r.returncode == 2 and b"not a queue ID" in r.stderr, r
    r = cmd(bindir, d, "postsuper", ["-z", "x"])
    assert r.returncode == 2 and b"usage: postsuper" in r.stderr, r


def test_postconf_and_postmap(delivery, bindir):
    d = delivery().start()
    r = cmd(bindir, d, "postconf", ["-h", "myhostname"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() == d.o.get_param("myhostname")
    r = cmd(bindir, d, "postconf", ["-n"])
    assert r.returncode == 0 and b"myhostname = " in r.stdout, r
    r = cmd(bindir, d, "postmap", ["-q", "b", "inline:{a=1, b=2}"])
    assert r.returncode == 0 and r.stdout.decode().strip() == "2", r


def test_postfix_and_postcat(delivery, bindir):
    d = delivery().start()
    qid = deferred_message(d)
    r = cmd(bindir, d, "postfix", ["status"])
    assert r.returncode == 0, r
    r = cmd(bindir, d, "postfix", ["check"])
    assert r.returncode in (0, 1) and b"configuration OK" in r.stdout, r
    r = cmd(bindir, d, "postfix", ["flush"])
    assert r.returncode == 0, r
    # Last of the running commands: right after a reload the new queue
    # process waits for the old one to let go of the queue, and a flush
    # in that moment is refused (exit 2, said).
    r = cmd(bindir, d, "postfix", ["reload"])
    assert r.returncode == 0, r
    d.wait_log(r"ostia/master\[\d+\]: .*reload")
    r = cmd(bindir, d, "postfix", ["set-permissions"])
    assert r.returncode == 0 and b"nothing to do" in r.stdout, r
    r = cmd(bindir, d, "postfix", ["explode"])
    assert r.returncode == 2 and b"usage: postfix" in r.stderr, r
    # postcat -q: the queued message, envelope and text.
    r = cmd(bindir, d, "postcat", ["-q", qid])
    assert r.returncode == 0, r
    assert RETRY_ALIAS.encode() in r.stdout and b"Subject:" in r.stdout, \
        r.stdout[:500]
    r = cmd(bindir, d, "postcat", ["/var/spool/postfix/deferred/x"])
    assert r.returncode == 2 and b"by queue ID" in r.stderr, r
