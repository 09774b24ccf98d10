# SPDX-License-Identifier: MIT
"""Per-client limits counted across smtpd processes by the lookup
process (src/smtpd/smtpd_limit.h, src/lookup/lookup_anvil.h):
smtpd_client_connection_count_limit, smtpd_client_connection_rate_limit,
smtpd_client_message_rate_limit, smtpd_client_recipient_rate_limit,
their exceptions (smtpd_client_event_limit_exceptions, $mynetworks by
default), counts given back when a session ends or its smtpd dies, and
a counter that cannot be reached refusing (fail closed).

Clients connect from 127.0.0.1, or from 127.0.0.2 as a second client.
"""

import os
import re
import signal
import socket
import stat

from ostia_harness import SmtpClient, wait_until
from smtp_e2e import (assert_queued, expect_reply, queued_id, quit_,
                      send_data)
from test_smtp_hostile import smtpd_pids

NO_EXCEPTIONS = {"smtpd_client_event_limit_exceptions": ""}
REFUSED = r"Error: too many connections from 127\.0\.0\.1\Z"


def connect_from(o, source, timeout=5.0):
    sock = socket.create_connection(("127.0.0.1", o.ports["smtp"]),
                                    timeout=timeout,
                                    source_address=(source, 0))
    sock.settimeout(None)
    return SmtpClient(sock, timeout=timeout)


def greeted(o, source="127.0.0.1"):
    c = connect_from(o, source)
    expect_reply(c, 220)
    return c


def refused_at_connect(o, source="127.0.0.1"):
    """Connect; the first reply is the 421, then the server closes."""
    c = connect_from(o, source)
    r = expect_reply(c, 421, "4.7.0")
    c.sock.settimeout(5)
    assert c.sock.recv(1) == b"", "the server kept the connection open"
    c.close()
    return r


def first_reply(o, source="127.0.0.1"):
    c = connect_from(o, source)
    r = c.read_reply()
    c.close()
    return r


def greeted_eventually(o, what):
    """Connect until a connection is greeted (others are refused while
    a count is still being given back); return that client."""
    got = []

    def once():
        c = connect_from(o, "127.0.0.1")
        if c.read_reply().code == 220:
            got.append(c)
            return True
        c.close()
        return False
    wait_until(once, what=what)
    return got[0]


def test_connection_count_limit(smtpd):
    o = smtpd(dict(NO_EXCEPTIONS, smtpd_client_connection_count_limit=2,
                   anvil_status_update_time="1s"))
    mark = o.log_mark()
    a, b = greeted(o), greeted(o)
    r = refused_at_connect(o)
    assert r.raw[-1] == ("421 4.7.0 test.example Error: too many "
                           "connections from 127.0.0.1"), r
    o.wait_for_log(r"warning: Connection concurrency limit exceeded: 3 "
                   r"from unknown\[127\.0\.0\.1\] for service \S+ \(3 "
                   r"connections open at once; "
                   r"smtpd_client_connection_count_limit = 2\)",
                   start=mark)
    # Another client is counted apart.
    other = greeted(o, "127.0.0.2")
    # A session that ends gives its connection back.
    quit_(a)
    wait_until(lambda: first_reply(o).code == 220, what="a free slot")
    quit_(b)
    quit_(other)
    # The lookup process logs the peaks of the period, for choosing
    # limits.
    o.wait_for_log(r"ostia/lookup\[\d+\]: statistics: max connection count "
                   r"3 for \(\S+ 127\.0\.0\.1\) at \w+ +\d+ [\d:]+$",
                   start=mark)
    o.wait_for_log(r"ostia/lookup\[\d+\]: statistics: max connection rate "
                   r"\d+/60s for \(\S+ 127\.0\.0\.1\) at ", start=mark)


def test_mynetworks_are_exempt_by_default(smtpd):
    o = smtpd({"smtpd_client_connection_count_limit": 1,
               "smtpd_client_message_rate_limit": 1})
    conns = [greeted(o) for _ in range(4)]
    c = conns[0]
    c.send_line("EHLO client.example")
    expect_reply(c, 250)
    for _ in range(3):
        c.send_line("MAIL FROM:<a@example.org>")
        expect_reply(c, 250, "2.1.0")
        c.send_line("RSET")
        expect_reply(c, 250)
    for c in conns:
        quit_(c)
    o.assert_not_in_log(r"limit exceeded")


def test_exceptions_list(smtpd):
    o = smtpd({"smtpd_client_connection_count_limit": 1,
               "smtpd_client_event_limit_exceptions": "127.0.0.2"})
    listed = [greeted(o, "127.0.0.2") for _ in range(3)]
    first = greeted(o)
    refused_at_connect(o)
    for c in listed + [first]:
        quit_(c)


def test_counts_given_back_when_smtpd_dies(smtpd):
    o = smtpd(dict(NO_EXCEPTIONS, smtpd_client_connection_count_limit=2))
    a, b = greeted(o), greeted(o)
    refused_at_connect(o)
    pids = smtpd_pids(o)
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    for c in (a, b):
        c.close()
    # The master starts a new smtpd; the lookup process took back what
    # the dead one held, so both slots are free again.
    wait_until(lambda: set(smtpd_pids(o)) - set(pids), what="a new smtpd")
    c1 = greeted_eventually(o, "a greeting after the restart")
    c2 = greeted(o)
    quit_(c1)
    quit_(c2)


def lookup_pid(o):
    """The lookup process's pid once it is ready, or None."""
    for line in o.cli("status").stdout.splitlines():
        if line.startswith("service lookup/internal "):
            m = re.search(r"ready=1 .* pids=(\d+)$", line)
            return int(m.group(1)) if m else None
    return None


def test_lookup_process_restart_starts_counts_afresh(smtpd):
    """The counts live in the lookup process: after it restarts, the
    connections open before are not counted, and their ends (sent to
    the new process, which never counted them) take nothing away from
    the connections counted since."""
    o = smtpd(dict(NO_EXCEPTIONS, smtpd_client_connection_count_limit=2))
    old = [greeted(o), greeted(o)]
    refused_at_connect(o)
    pid = lookup_pid(o)
    assert pid
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: lookup_pid(o) not in (None, pid),
               what="a new lookup process")
    # Two new ones are counted by the new process...
    c1 = greeted_eventually(o, "a greeting from the new lookup process")
    c2 = greeted(o)
    # ...and the old ones ending does not free their places.
    for c in old:
        quit_(c)
    o.wait_for_log(r"disconnect from .*quit=1 commands=1\n(?:.*\n)*"
                   r".*disconnect from .*quit=1 commands=1")
    refused_at_connect(o)
    quit_(c1)
    wait_until(lambda: first_reply(o).code == 220, what="a free slot")
    quit_(c2)


def test_connection_rate_limit(smtpd):
    o = smtpd(dict(NO_EXCEPTIONS, smtpd_client_connection_rate_limit=3,
                   smtpd_client_connection_count_limit=0,
                   anvil_rate_time_unit="2s"))
    mark = o.log_mark()
    for _ in range(3):
        quit_(greeted(o))
    r = refused_at_connect(o)
    assert r.lines[-1].endswith("too many connections from 127.0.0.1")
    o.wait_for_log(r"warning: Connection rate limit exceeded: 4 from "
                   r"unknown\[127\.0\.0\.1\] for service \S+ \(4 in 2 s; "
                   r"smtpd_client_connection_rate_limit = 3\)", start=mark)
    # Another client has its own rate.
    quit_(greeted(o, "127.0.0.2"))
    # The next window starts afresh.
    wait_until(lambda: first_reply(o).code == 220, timeout=15,
               what="a new window")


def test_message_rate_limit(smtpd):
    o = smtpd(dict(NO_EXCEPTIONS, smtpd_client_message_rate_limit=2))
    mark = o.log_mark()
    c = greeted(o)
    c.send_line("EHLO client.example")
    expect_reply(c, 250)
    c.send_line("MAIL FROM:<a@example.org>")
    expect_reply(c, 250, "2.1.0")
    c.send_line("RSET")
    expect_reply(c, 250)
    c.send_line("MAIL FROM:<a@example.org>")
    expect_reply(c, 250, "2.1.0")
    c.send_line("RCPT TO:<postmaster>")
    expect_reply(c, 250, "2.1.5")
    qid = queued_id(send_data(c, b"Subject: one\r\n\r\nHello.\r\n"))
    # The third MAIL FROM in the window is refused; the session goes on.
    c.send_line("MAIL FROM:<a@example.org>")
    r = expect_reply(c, 450, "4.7.1")
    assert r.raw[-1] == "450 4.7.1 Error: too much mail from 127.0.0.1"
    c.send_line("RCPT TO:<postmaster>")
    expect_reply(c, 503, "5.5.1")
    c.send_line("NOOP")
    expect_reply(c, 250)
    quit_(c)
    o.wait_for_log(r"warning: Message delivery request rate limit exceeded: "
                   r"3 from unknown\[127\.0\.0\.1\] for service \S+ \(3 in "
                   r"60 s; smtpd_client_message_rate_limit = 2\)", start=mark)
    o.wait_for_log(r"NOQUEUE: reject: MAIL from unknown\[127\.0\.0\.1\]: "
                   r"450 4\.7\.1 Error: too much mail", start=mark)
    # Counted per client, not per session.
    c = greeted(o)
    c.send_line("HELO client.example")
    expect_reply(c, 250)
    c.send_line("MAIL FROM:<a@example.org>")
    expect_reply(c, 450, "4.7.1")
    quit_(c)
    assert_queued(o, 1)
    assert qid


def test_recipient_rate_limit(smtpd):
    o = smtpd(dict(NO_EXCEPTIONS, smtpd_client_recipient_rate_limit=2))
    mark = o.log_mark()
    c = greeted(o)
    c.send_line("EHLO client.example")
    expect_reply(c, 250)
    c.send_line("MAIL FROM:<a@example.org>")
    expect_reply(c, 250)
    c.send_line("RCPT TO:<b@example.net>")
    expect_reply(c, 250, "2.1.5")
    c.send_line("RCPT TO:<c@example.net>")
    expect_reply(c, 250, "2.1.5")
    c.send_line("RCPT TO:<d@example.net>")
    r = expect_reply(c, 450, "4.7.1")
    assert r.raw[-1] == ("450 4.7.1 Error: too many recipients from "
                           "127.0.0.1")
    # The two accepted recipients still get the message.
    qid = queued_id(send_data(c, b"Subject: two\r\n\r\nHello.\r\n"))
    quit_(c)
    o.wait_for_log(r"warning: Recipient address rate limit exceeded: 3 "
                   r"from unknown\[127\.0\.0\.1\] for service \S+ \(3 in "
                   r"60 s; smtpd_client_recipient_rate_limit = 2\)",
                   start=mark)
    # NOQUEUE or the ID: the queue file comes while RCPTs go on.
    o.wait_for_log(r"(?:NOQUEUE|[0-9A-Z]{16}): reject: RCPT from "
                   r"unknown\[127\.0\.0\.1\]: "
                   r"450 4\.7\.1 Error: too many recipients from 127\.0\.0\.1; "
                   r"from=<a@example\.org> to=<d@example\.net>", start=mark)
    o.wait_for_log(r"%s: from=<a@example\.org>, size=\d+, nrcpt=2" % qid,
                   start=mark)


def test_counter_unreachable_fails_closed(smtpd):
    o = smtpd(dict(NO_EXCEPTIONS, smtpd_client_connection_count_limit=5))
    sock_path = os.path.join(o.queue_dir, "private", "lookup")
    mode = stat.S_IMODE(os.stat(sock_path).st_mode)
    mark = o.log_mark()
    # smtpd (mail_owner, not root) cannot connect to a socket of mode
    # 000; it has not connected yet: nothing asked the lookup process.
    os.chmod(sock_path, 0)
    try:
        c = connect_from(o, "127.0.0.1")
        r = expect_reply(c, 421, "4.3.0")
        assert "cannot check the connection limits" in r.lines[-1]
        c.close()
    finally:
        os.chmod(sock_path, mode)
    o.wait_for_log(r"warning: unknown\[127\.0\.0\.1\]: cannot check the "
                   r"connection limits for service \S+: cannot connect to "
                   r"the lookup process .*; refused with a temporary error",
                   start=mark)
    # Reachable again: counted, and greeted.
    wait_until(lambda: first_reply(o).code == 220, what="a greeting")
