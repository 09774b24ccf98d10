# SPDX-License-Identifier: MIT
"""`ostia check [--live]` and the Milters: each smtpd_milters and
non_smtpd_milters entry checked as the daemons read it, pickup's
chroot explained for unix: sockets, and with --live each filter
connected to and asked to negotiate: a real libmilter filter answers,
a closed port, an SMTP port and a malformed entry are errors in words."""

import subprocess

from ostia_harness import free_port
from test_milter import start


def check(o, *args):
    r = subprocess.run([o.binary, "-c", o.confdir, "check"] + list(args),
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def test_check_live_reports_each_filter(ostia_factory, milter):
    dead = free_port()
    o = start(ostia_factory,
              "inet:127.0.0.1:%d, inet:127.0.0.1:%d, inet:nowhere" %
              (milter.port, dead),
              non_smtpd_milters="unix:/run/ostia-no-such-filter.sock")
    smtp_port = o.ports["smtp"]
    rc, out = check(o)
    assert rc == 2, out
    # Without --live: the entries, the chroot note, no connection.
    assert "inet:nowhere (smtpd_milters of " in out
    assert "expected inet:host:port" in out or "not a filter" in out, out
    assert "pickup runs chrooted to queue_directory: it looks for this " \
        "socket as %s/run/ostia-no-such-filter.sock" % o.queue_dir in out
    assert "a Milter answers" not in out
    rc, out = check(o, "--live")
    assert rc == 2, out
    # What milter_server.py registered (Milter.set_flags).
    assert "ok: a Milter answers (protocol version 6); it may: add " \
        "headers, change headers, replace the body, add recipients" in out, \
        out
    assert "remove recipients, change the sender, quarantine" in out, out
    assert "error: cannot connect to 127.0.0.1 port %d: Connection " \
        "refused (is the filter running and listening there?)" % dead \
        in out, out
    # A filter entry that names an SMTP port by mistake.
    o.update_main_cf({"smtpd_milters": "inet:127.0.0.1:%d" % smtp_port})
    rc, out = check(o, "--live")
    assert rc == 2, out
    # The smtpd answers with its greeting, or with its refusal of a
    # client that talked first (the Milter packet) when it looked late.
    assert "error: the answer is not a Milter packet (it starts with " \
        "\"220 " in out or "error: the answer is not a Milter packet " \
        "(it starts with \"554 " in out, out
    assert "is this an SMTP, HTTP or other port?" in out


def test_check_without_filters_says_so(ostia_factory):
    o = start(ostia_factory, "")
    rc, out = check(o)
    assert "Milters: none (smtpd_milters, non_smtpd_milters)" in out, out
