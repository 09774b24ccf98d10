# SPDX-License-Identifier: MIT
"""A real amavisd-new (Debian's amavisd 2.13) as the seed's content
filter, in a temporary directory.

The seed hands every message to amavis on 127.0.0.1:10024 and takes it
back on a re-injection smtpd at 127.0.0.1:10025.  AmavisServer runs
/usr/sbin/amavisd in the foreground (`amavisd -c FILE foreground`) with
a configuration file of its own, so the system's /etc/amavis is never
read:

    srv = AmavisServer(tmpdir, forward_port=REINJECT_PORT)
    srv.start()           # waits until it greets on 127.0.0.1:srv.port
    srv.port              # its listening port ($inet_socket_port)
    srv.stop()            # SIGTERM to the master, wait; srv.start()
                          # again brings it back on the same port
    srv.log_text()        # its log file
    srv.diagnostics()     # tails of the log and of what it printed
    srv.close()           # stop for good

Layout (a fresh directory amavis-XXXX under tmpdir, default /tmp; the
daemon user must be able to reach it):

  etc/amavisd.conf  owned by root, in a directory the daemon cannot
                    write (amavisd refuses to run otherwise); as
                    non-root the checks are switched off with
                    -X no_conf_file_writable_check instead
  home/             $MYHOME, owned by the daemon user: tmp/ ($TEMPBASE),
                    db/ ($db_home), var/ ($helpers_home), amavisd.pid,
                    amavisd.lock, amavis.log ($LOGFILE)
  run.out           amavisd's stdout and stderr

Content checks that need outside programs are off: no virus scanner
(@av_scanners empty, @bypass_virus_checks_maps = (1)), no SpamAssassin
(@bypass_spam_checks_maps = (1)), no DKIM, no BerkeleyDB cache, no
quarantine.  Mail is still parsed, decoded and checked for banned names
and bad headers, and passed on with amavis's own Received: header

    Received: from <client's EHLO> ([127.0.0.1])
     by localhost (<hostname> [127.0.0.1]) (amavis, port N) with ESMTP
     id <mail_id> for <rcpt>; <date>

(<mail_id> is the one its log's "Passed CLEAN ... mail_id: ..." line
names).  amavisd adds X-Virus-Scanned: only for recipients whose virus
checks were not bypassed, so that header does not appear here.  Mail is
passed on to $forward_method = smtp:[127.0.0.1]:forward_port, and so are
its notices ($notify_method).

As root the daemon drops to $daemon_user/$daemon_group, the Ostia test
user (ostia_harness.ensure_test_user); otherwise it runs as the current
user.  A missing amavisd skips the test (ostia_harness.require_peer); an
amavisd that does not come up within START_TIMEOUT fails it with the
tail of its log.

Standard library and pytest only.
"""

import atexit
import grp
import os
import pwd
import signal
import socket
import subprocess
import tempfile
import time

from ostia_harness import ensure_test_user, free_port, require_peer, tail

START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0

_LIVE = []


@atexit.register
def _close_leftovers():
    for srv in list(_LIVE):
        try:
            srv.close()
        except Exception:
            pass


def _read(path):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _perl_str(text):
    """text as a single-quoted Perl string literal."""
    return "'%s'" % text.replace("\\", "\\\\").replace("'", "\\'")


class AmavisServer:
    """One private amavisd; see the module text.

    forward_port: the re-injection port on 127.0.0.1 ($forward_method,
    $notify_method).  port: the listening port (default: a free one).
    user: the daemon user when run as root (default: the Ostia test
    user).  local_domains: @local_domains_maps (mail to them is
    "inbound"; to other domains amavis logs "Open relay?").  extra:
    Perl lines appended to the configuration.
    """

    def __init__(self, tmpdir=None, forward_port=None, port=None, user=None,
                 log_level=2, max_servers=2, hostname="amavis.test",
                 local_domains=("vmail.test",), extra=""):
        self.binary = require_peer("amavisd")
        base = tmpdir or tempfile.gettempdir()
        self.dir = tempfile.mkdtemp(prefix="amavis-", dir=base)
        os.chmod(self.dir, 0o755)
        self.confdir = os.path.join(self.dir, "etc")
        self.home = os.path.join(self.dir, "home")
        self.conf_path = os.path.join(self.confdir, "amavisd.conf")
        self.log_path = os.path.join(self.home, "amavis.log")
        self.pid_path = os.path.join(self.home, "amavisd.pid")
        self.run_out = os.path.join(self.dir, "run.out")
        self.forward_port = forward_port
        self.port = port or free_port()
        self.user = user or ensure_test_user()
        self.log_level = log_level
        self.max_servers = max_servers
        self.hostname = hostname
        self.local_domains = tuple(local_domains)
        self.extra = extra
        self.proc = None
        _LIVE.append(self)

    # ---- configuration

    def _ids(self):
        if os.geteuid() != 0:
            return os.getuid(), os.getgid()
        pw = pwd.getpwnam(self.user)
        return pw.pw_uid, pw.pw_gid

    def _config_text(self):
        uid, gid = self._ids()
        user = pwd.getpwuid(uid).pw_name
        group = grp.getgrgid(gid).gr_name
        forward = "smtp:[127.0.0.1]:%d" % self.forward_port
        lines = [
            "# written by tests/e2e/amavis_server.py",
            "use strict;",
            "$MYHOME = %s;" % _perl_str(self.home),
            "$TEMPBASE = \"$MYHOME/tmp\";",
            "$db_home = \"$MYHOME/db\";",
            "$helpers_home = \"$MYHOME/var\";",
            "$pid_file = \"$MYHOME/amavisd.pid\";",
            "$lock_file = \"$MYHOME/amavisd.lock\";",
            "$QUARANTINEDIR = undef;",
            "$unix_socketname = undef;",
            "$daemon_user = %s;" % _perl_str(user),
            "$daemon_group = %s;" % _perl_str(group),
            "$myhostname = %s;" % _perl_str(self.hostname),
            "$mydomain = %s;" % _perl_str(self.hostname),
            "$inet_socket_bind = '127.0.0.1';",
            "$inet_socket_port = %d;" % self.port,
            "@inet_acl = qw(127.0.0.1);",
            "@local_domains_maps = ([%s]);" % ", ".join(
                _perl_str("." + d) for d in self.local_domains),
            "$forward_method = %s;" % _perl_str(forward),
            "$notify_method = %s;" % _perl_str(forward),
            "@bypass_virus_checks_maps = (1);",
            "@bypass_spam_checks_maps = (1);",
            "@av_scanners = ();",
            "@av_scanners_backup = ();",
            "$enable_dkim_verification = 0;",
            "$enable_dkim_signing = 0;",
            "$enable_db = 0;",
            "$enable_global_cache = 0;",
            "$file = 'file';",
            "$max_servers = %d;" % self.max_servers,
            "$max_requests = 20;",
            "$DO_SYSLOG = 0;",
            "$LOGFILE = \"$MYHOME/amavis.log\";",
            "$log_level = %d;" % self.log_level,
            self.extra,
            "1;",
        ]
        return "\n".join(lines) + "\n"

    def _setup(self):
        if self.forward_port is None:
            raise ValueError("AmavisServer needs forward_port (the "
                             "re-injection port)")
        uid, gid = self._ids()
        os.makedirs(self.confdir, exist_ok=True)
        os.chmod(self.confdir, 0o755)
        with open(self.conf_path, "w", encoding="utf-8") as f:
            f.write(self._config_text())
        os.chmod(self.conf_path, 0o644)
        for d in ("", "tmp", "db", "var"):
            path = os.path.join(self.home, d)
            os.makedirs(path, exist_ok=True)
            os.chmod(path, 0o750)
            if os.geteuid() == 0:
                os.chown(path, uid, gid)

    # ---- processes

    def _greets(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port),
                                          timeout=2) as s:
                s.settimeout(5)
                data = b""
                while b"\n" not in data:
                    chunk = s.recv(512)
                    if not chunk:
                        break
                    data += chunk
                if data.startswith(b"220"):
                    try:
                        s.sendall(b"QUIT\r\n")
                    except OSError:
                        pass
                    return True
        except OSError:
            pass
        return False

    def start(self):
        """Write the configuration, start amavisd in the foreground and
        wait until it greets with 220 on 127.0.0.1:.port; returns self."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("amavisd already running (pid %d)"
                               % self.proc.pid)
        self._setup()
        argv = [self.binary]
        if os.geteuid() != 0:
            # Our own files are ours: amavisd's "config file owned by
            # root, not writable" rule cannot hold.
            argv += ["-X", "no_conf_file_writable_check"]
        argv += ["-c", self.conf_path, "foreground"]
        with open(self.run_out, "ab") as out:
            self.proc = subprocess.Popen(argv, cwd=self.dir,
                                         stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=out,
                                         start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            rc = self.proc.poll()
            if rc is not None:
                raise AssertionError("amavisd exited with %d during "
                                     "startup\n%s" % (rc, self.diagnostics()))
            if self._greets():
                return self
            if time.monotonic() >= deadline:
                text = self.diagnostics()
                self._kill()
                raise AssertionError("amavisd did not greet on 127.0.0.1:%d "
                                     "within %.0fs\n%s"
                                     % (self.port, START_TIMEOUT, text))
            time.sleep(0.1)

    def _kill(self):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def _port_closed(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port),
                                          timeout=1):
                return False
        except OSError:
            return True

    def stop(self):
        """SIGTERM to the master; wait until it and its children are
        gone and the port is closed (SIGKILL to the process group after
        STOP_TIMEOUT).  The directory and port are kept for start()."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        # Children left behind (they share the master's process group).
        self._kill()
        deadline = time.monotonic() + STOP_TIMEOUT
        while not self._port_closed():
            if time.monotonic() >= deadline:
                raise AssertionError("127.0.0.1:%d still answers after "
                                     "amavisd stopped\n%s"
                                     % (self.port, self.diagnostics()))
            time.sleep(0.1)
        self.proc = None

    def close(self):
        """Stop for good (the directory stays for the caller to remove)."""
        try:
            self.stop()
        finally:
            if self in _LIVE:
                _LIVE.remove(self)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # ---- logs

    def log_text(self):
        """amavisd's log file ($LOGFILE)."""
        return _read(self.log_path)

    def diagnostics(self, lines=60):
        """Tails of the log (decoder inventory left out) and run.out."""
        log = "\n".join(line for line in self.log_text().splitlines()
                        if "No decoder for" not in line and
                        "No ext program for" not in line)
        return ("--- %s (tail) ---\n%s\n--- %s (tail) ---\n%s"
                % (self.log_path, tail(log, lines), self.run_out,
                   tail(_read(self.run_out), lines)))
