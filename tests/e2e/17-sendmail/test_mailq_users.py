# SPDX-License-Identifier: MIT
"""mailq and sendmail -q for users who are neither root nor mail_owner.

They cannot read the spool, so the command asks the queue process's
public service ($queue_directory/public/showq, reachable only through
the set-group-ID helper) which decides by authorized_mailq_users and
authorized_flush_users (default static:anyone, as in Postfix: monitoring
plugins run mailq as their own user).  Here: nobody lists a queue that
holds a deferred message and sees the same listing root does; a list
that refuses nobody gets a clear refusal (exit 2, the reason, a log
line); the flush request likewise; public/ is closed to everybody
else.
"""

import grp
import os
import re
import subprocess

import pytest

from delivery_e2e import RETRY_ALIAS, make_message, parse_queue, token
from test_sendmail import PLAIN_USER, ROOT, make_setgid, plain_user, run

pytestmark = pytest.mark.skipif(
    not ROOT, reason="needs root to run as another user and to install "
    "the set-group-ID helper")

DEFERRED = RETRY_ALIAS   # -> x@retrysvc.test: deferred


def start(delivery, bindir, **params):
    plain_user()
    d = delivery()
    d.params.update(params)
    d.start()
    make_setgid(bindir)
    qid = d.send(DEFERRED, make_message(token(), to=DEFERRED))
    d.wait_listed(qid, lambda e: e.reason, "as deferred, with a reason")
    return d, qid


def test_nobody_lists_the_queue(delivery, bindir):
    d, qid = start(delivery, bindir)
    r = run(bindir, d, [], name="mailq", user=PLAIN_USER)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    entries, footer = parse_queue(r.stdout.decode())
    assert qid in entries and entries[qid].reason, r.stdout
    assert footer[0] == "total", footer
    # The same listing root gets (the spool read directly).
    mine = d.queue()
    assert mine.returncode == 0
    assert parse_queue(mine.stdout)[0].keys() == entries.keys()
    # sendmail -bp is the same request.
    r2 = run(bindir, d, ["-bp"], user=PLAIN_USER)
    assert r2.returncode == 0 and qid.encode() in r2.stdout, r2
    # The directory: the helper's group only; the socket inside.
    pub = os.path.join(d.o.queue_dir, "public")
    st = os.stat(pub)
    assert st.st_mode & 0o7777 == 0o710, oct(st.st_mode)
    assert st.st_gid == grp.getgrnam("ostia-postdrop").gr_gid
    pw = plain_user()
    r3 = subprocess.run(["/bin/ls", pub], capture_output=True,
                        user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
    assert r3.returncode != 0, r3.stdout


def test_authorized_mailq_users_refuses(delivery, bindir):
    d, qid = start(delivery, bindir, authorized_mailq_users="!%s, "
                   "static:anyone" % PLAIN_USER)
    pw = plain_user()
    r = run(bindir, d, [], name="mailq", user=PLAIN_USER)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert qid.encode() not in r.stdout
    want = ("%s (uid %d) may not list the queue: refused by \"!%s\" "
            "(authorized_mailq_users)" % (PLAIN_USER, pw.pw_uid,
                                          PLAIN_USER))
    assert want.encode() in r.stderr, r.stderr
    d.wait_log(r"ostia/queue\[\d+\]: warning: public queue service: %s"
               % re.escape(want))
    # Root still lists it.
    assert qid in d.queue().stdout


def test_flush_by_nobody(delivery, bindir):
    d, qid = start(delivery, bindir)
    r = run(bindir, d, ["-q"], user=PLAIN_USER)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    pw = plain_user()
    d.wait_log(r"ostia/queue\[\d+\]: queue control: flush \(uid %d, %s\)"
               % (pw.pw_uid, PLAIN_USER))
    # A queue ID of a message that is not there: exit 1, said.
    r = run(bindir, d, ["-qI0123456789ABCDEF"], user=PLAIN_USER)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)


def test_authorized_flush_users_refuses(delivery, bindir):
    d, qid = start(delivery, bindir, authorized_flush_users="!%s, "
                   "static:anyone" % PLAIN_USER)
    pw = plain_user()
    r = run(bindir, d, ["-q"], user=PLAIN_USER)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    want = ("%s (uid %d) may not flush the queue: refused by \"!%s\" "
            "(authorized_flush_users)" % (PLAIN_USER, pw.pw_uid, PLAIN_USER))
    assert want.encode() in r.stderr, r.stderr
    # Listing is still allowed.
    r = run(bindir, d, [], name="mailq", user=PLAIN_USER)
    assert r.returncode == 0 and qid.encode() in r.stdout, r
