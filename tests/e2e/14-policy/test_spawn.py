# SPDX-License-Identifier: MIT
"""spawn (Postfix's spawn(8)): the master.cf line that starts a policy
server per connection, as setups run policyd-spf:

  policy-test unix - n n - 0 spawn user=nobody argv=/path/policy.py OUT

with check_policy_service unix:private/policy-test in the recipient
restrictions.  The command here is a small policy server in Python: it
answers REJECT for recipients named blocked*, DUNNO otherwise, hangs for
hang*, and records the uid it runs as.  Checked: its answers reach the
client, it runs as user= (never root), one command per connection,
NAME_time_limit kills a command that hangs (the client gets the policy
failure), and a spawn line whose user is root runs nothing and says
why.
"""

import os
import re

from ostia_harness import wait_until
from policy_e2e import ELSEWHERE, HOSTED, OUTSIDER, Setup, Smtp, hosting

POLICY = r'''#!/usr/bin/python3
import os
import sys
import time

with open(sys.argv[1], "a") as f:
    f.write("%d\n" % os.getuid())
attrs = {}
for line in sys.stdin:
    line = line.rstrip("\n")
    if line:
        k, _, v = line.partition("=")
        attrs[k] = v
        continue
    rcpt = attrs.get("recipient", "")
    if rcpt.startswith("blocked"):
        sys.stdout.write("action=REJECT spawned policy refuses %s\n\n"
                         % rcpt)
    elif rcpt.startswith("hang"):
        time.sleep(3600)
    else:
        sys.stdout.write("action=DUNNO\n\n")
    sys.stdout.flush()
    attrs = {}
'''

HOSTED_USER = "alice@" + HOSTED
SOMEONE = "someone@" + ELSEWHERE


def spawn_setup(factory, user="nobody", **params):
    s = hosting(Setup(factory), mynetworks="127.0.0.1/32")
    d = os.path.join(s.o.tmpdir, "spawn")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o777)
    script = os.path.join(d, "policy.py")
    with open(script, "w") as f:
        f.write(POLICY)
    os.chmod(script, 0o755)
    out = os.path.join(d, "uids")
    s.update({"smtpd_recipient_restrictions":
              "check_policy_service unix:private/policy-test, "
              "permit_mynetworks, reject_unauth_destination"})
    s.update(params)
    s.o.write_master_cf(s.o.master_cf +
                        "policy-test unix - n n - 0 spawn\n"
                        "  user=%s argv=%s %s\n" % (user, script, out))
    return s.start(), out


def rcpt(o, addr):
    s = Smtp(o, source=OUTSIDER, timeout=30)
    s.ehlo()
    assert s.mail(SOMEONE).code == 250
    r = s.rcpt("<%s>" % addr)
    s.quit()
    return r


def test_spawned_policy_server_answers(ostia_factory):
    import pwd
    o, out = spawn_setup(ostia_factory)
    r = rcpt(o, "blocked@" + HOSTED)
    assert r.code == 554, r
    assert "spawned policy refuses blocked@" + HOSTED in r.text, r
    r = rcpt(o, HOSTED_USER)
    assert r.code == 250, r
    with open(out) as f:
        uids = [int(x) for x in f.read().split()]
    # One command per connection, as user= (nobody), never root.
    assert uids == [pwd.getpwnam("nobody").pw_uid] * len(uids), uids
    assert len(uids) >= 1


def test_time_limit_kills_a_hanging_command(ostia_factory):
    o, out = spawn_setup(ostia_factory,
                         **{"policy-test_time_limit": "2s",
                            "smtpd_policy_service_timeout": "20s"})
    r = rcpt(o, "hang@" + HOSTED)
    assert r.code == 451, r
    wait_until(lambda: re.search(
        r"spawn service policy-test: command \S+policy\.py \(pid \d+\) "
        r"still runs after 2 s .*killed", o.log_text()), 10, 0.2,
        "the time limit's log line")


def test_root_user_is_refused(ostia_factory):
    o, out = spawn_setup(ostia_factory, user="root")
    r = rcpt(o, HOSTED_USER)
    # The policy service cannot answer: a temporary failure.
    assert r.code == 451, r
    assert "user=root is root (uid 0); commands never run as root" in \
        o.log_text()
    assert not os.path.exists(out)
