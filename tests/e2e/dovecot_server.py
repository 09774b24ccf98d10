# SPDX-License-Identifier: MIT
"""A real Dovecot (2.3) serving its auth service, in a temporary directory.

For the tests of smtpd_sasl_type = dovecot.  Each instance is private:
its own configuration file (`dovecot -c FILE -F`), base_dir, state_dir
and log under a fresh world-traversable directory from tempfile.mkdtemp()
in /tmp; the system's Dovecot and /etc/dovecot are never used.  No mail
protocol listens (protocols = none unless the caller asks for some); the
auth service listens on

  .auth_socket   a UNIX-domain socket, mode 0666 (smtpd runs as the
                 unprivileged mail owner, see ostia_harness.ensure_test_user),
                 <dir>/auth-client unless the caller gives a path;
  .auth_port     a TCP port on 127.0.0.1, for smtpd_sasl_path = inet:...
                 (.auth_inet is "inet:127.0.0.1:PORT").

Users: .users maps name -> password (passwd-file passdb, hashes made by
`doveadm pw -s SCHEME`); by default three users with random passwords.
Names in .tempfail_users (default "tempfail@example.org") are unknown to
the passwd-file and handed to a checkpassword passdb that exits 111, so
Dovecot answers FAIL with code=temp_fail: a real temporary failure.
Every other unknown name fails normally.  auth_mechanisms = plain login
unless given; auth_failure_delay = 0 so that failures answer quickly.

    srv = DovecotAuth.start()          # or DovecotAuth.start(users={...})
    srv.auth_socket, srv.auth_port, srv.users
    srv.stop(); srv.start()            # outage: same socket, port, users
    srv.restart()
    srv.close()                        # stop for good, remove the directory
    srv.log_text()                     # Dovecot's log (auth_debug is on,
                                       # passwords hidden): .auth_requests()
                                       # gives the AUTH lines it received

Also here: AuthClient, a raw client of Dovecot's auth-client protocol, so
tests can check what Dovecot says independently of Ostia:

    with AuthClient(srv.auth_socket) as c:     # or ("127.0.0.1", port)
        hs = c.handshake()                     # .mechs {"PLAIN": [...]}
        r = c.plain("alice@example.org", "pw", rip="192.0.2.1")
        r.status == "OK" and r.fields["user"] == "alice@example.org"

and check_password(address, user, password, mech="PLAIN") for one-shot
checks.  A missing dovecot or doveadm makes the calling test skip with
the reason (pytest.skip); a Dovecot that does not come up within
START_TIMEOUT fails the test with the tail of its log.

Standard library and pytest only.
"""

import atexit
import base64
import os
import pwd
import grp
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from ostia_harness import find_binary, free_port, tail

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
CLIENT_TIMEOUT = 15.0

DEFAULT_TEMPFAIL_USERS = ("tempfail@example.org",)

_LIVE = []


@atexit.register
def _close_leftovers():
    for srv in list(_LIVE):
        try:
            srv.close()
        except Exception:  # best effort at exit
            pass


def _read(path):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _default_users():
    return {
        "alice@example.org": "alice-" + secrets.token_hex(8),
        "bob@example.org": "b0b pa$$ wörd " + secrets.token_hex(4),
        "carol": "carol-" + secrets.token_hex(8),
    }


class _hybridmethod:
    """start() on the class makes a new server; on an instance, restarts
    a stopped one."""

    def __init__(self, cls_func, inst_func):
        self.cls_func = cls_func
        self.inst_func = inst_func

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self.cls_func.__get__(objtype, type(objtype))
        return self.inst_func.__get__(obj, objtype)


# ---------------------------------------------------------------- server

class DovecotAuth:
    """A private Dovecot auth service.  See the module docstring."""

    def __init__(self, users=None, socket_path=None, mechanisms="plain login",
                 tempfail_users=DEFAULT_TEMPFAIL_USERS, scheme="SHA512-CRYPT",
                 protocols="none", extra_config=""):
        self.dovecot_bin = find_binary("dovecot")
        self.doveadm_bin = find_binary("doveadm")
        if self.dovecot_bin is None or self.doveadm_bin is None:
            pytest.skip("Dovecot is not installed (missing %s; Debian "
                        "package dovecot-core)"
                        % ("dovecot" if self.dovecot_bin is None
                           else "doveadm"))
        self.version = self._version()
        if not self.version.startswith("2."):
            pytest.skip("Dovecot %s found; these tests need 2.x"
                        % self.version)
        # Short (socket paths are limited to 108 bytes) and enterable by
        # Dovecot's own users and Ostia's mail owner.
        self.base = tempfile.mkdtemp(prefix="ostia-dv-", dir="/tmp")
        os.chmod(self.base, 0o755)
        self.base_dir = os.path.join(self.base, "run")
        self.state_dir = os.path.join(self.base, "state")
        self.config = os.path.join(self.base, "dovecot.conf")
        self.passwd_file = os.path.join(self.base, "passwd")
        self.tempfail_script = os.path.join(self.base, "tempfail.sh")
        self.log_path = os.path.join(self.base, "dovecot.log")
        self.auth_socket = socket_path or os.path.join(self.base,
                                                       "auth-client")
        self.auth_port = free_port()
        self.users = dict(users) if users is not None else _default_users()
        self.tempfail_users = tuple(tempfail_users)
        self.mechanisms = mechanisms
        self.scheme = scheme
        self.protocols = protocols
        self.extra_config = extra_config
        self.instance = "ostia-dv-" + secrets.token_hex(4)
        self.proc = None
        self.running = False
        self.closed = False

    @property
    def auth_inet(self):
        return "inet:127.0.0.1:%d" % self.auth_port

    @property
    def auth_address(self):
        return ("127.0.0.1", self.auth_port)

    # -- setup
    def _version(self):
        try:
            r = subprocess.run([self.dovecot_bin, "--version"],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               timeout=30)
        except (OSError, subprocess.TimeoutExpired) as e:
            pytest.skip("cannot run %s --version: %s" % (self.dovecot_bin, e))
        return r.stdout.strip().split(" ")[0]

    def hash_password(self, password, scheme=None):
        """`doveadm pw` of password (a test password on argv is fine)."""
        r = subprocess.run([self.doveadm_bin, "-O", "pw", "-s",
                            scheme or self.scheme, "-p", password],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=60)
        if r.returncode != 0 or not r.stdout.startswith("{"):
            raise RuntimeError("doveadm pw failed (%d): %s"
                               % (r.returncode, r.stderr.strip()))
        return r.stdout.strip()

    def _write_passwd(self):
        lines = []
        for name, password in self.users.items():
            if ":" in name or "\n" in name:
                raise ValueError("user name %r cannot go in a passwd-file"
                                 % name)
            lines.append("%s:%s::::::\n" % (name, self.hash_password(password)))
        tmp = self.passwd_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(lines)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.passwd_file)

    def _ids(self):
        """default_internal_user etc.: Dovecot's own users as root, the
        current user otherwise."""
        if os.geteuid() == 0:
            for name in ("dovecot", "dovenull"):
                try:
                    pwd.getpwnam(name)
                except KeyError:
                    pytest.skip("running as root and the system user %r "
                                "(from dovecot-core) does not exist" % name)
            return None
        me = pwd.getpwuid(os.geteuid()).pw_name
        group = grp.getgrgid(os.getegid()).gr_name
        return me, group

    def _config_text(self):
        ids = self._ids()
        for name in self.tempfail_users:
            if "'" in name or "\n" in name:
                raise ValueError("tempfail user %r cannot be quoted" % name)
        case = " | ".join("'%s'" % n for n in self.tempfail_users) \
            or "''"
        lines = [
            "# Written by tests/e2e/dovecot_server.py",
            "base_dir = %s" % self.base_dir,
            "state_dir = %s" % self.state_dir,
            "instance_name = %s" % self.instance,
            "log_path = %s" % self.log_path,
            "protocols = %s" % self.protocols,
            "listen = 127.0.0.1",
            "ssl = no",
            "auth_mechanisms = %s" % self.mechanisms,
            "auth_failure_delay = 0",
            "auth_verbose = yes",
            "auth_debug = yes",
            "auth_debug_passwords = no",
            "auth_verbose_passwords = no",
            "disable_plaintext_auth = no",
        ]
        if ids is not None:
            lines += [
                "default_internal_user = %s" % ids[0],
                "default_internal_group = %s" % ids[1],
                "default_login_user = %s" % ids[0],
            ]
        lines += [
            "passdb {",
            "  driver = passwd-file",
            "  args = scheme=%s %s" % (self.scheme, self.passwd_file),
            "}",
            "passdb {",
            "  driver = checkpassword",
            "  args = %s" % self.tempfail_script,
        ]
        if self.tempfail_users:
            # Only the tempfail names reach the script; others fail in
            # the passwd-file without a process being started.
            lines.append("  username_filter = %s"
                         % " ".join(self.tempfail_users))
        lines += [
            "}",
            "userdb {",
            "  driver = static",
            "  args = uid=65534 gid=65534 home=/nonexistent",
            "}",
            "service auth {",
            "  unix_listener auth-client {",
            "    path = %s" % self.auth_socket,
            "    mode = 0666",
            "  }",
            "  inet_listener auth-inet {",
            "    address = 127.0.0.1",
            "    port = %d" % self.auth_port,
            "  }",
            "}",
        ]
        script = ("#!/bin/sh\n"
                  "# Ostia tests: a passdb that fails temporarily for\n"
                  "# some names (exit 111) and refuses the others.\n"
                  "# It reads Dovecot's input (fd 3) before exiting:\n"
                  "# exiting first makes Dovecot's write fail, which it\n"
                  "# reports as an internal (temporary) failure.\n"
                  "cat <&3 >/dev/null\n"
                  "case \"$AUTH_USER\" in\n"
                  "%s) exit 111 ;;\n"
                  "esac\n"
                  "exit 1\n" % case)
        return "\n".join(lines) + "\n" + self.extra_config, script

    def _setup(self):
        for d in (self.base_dir, self.state_dir):
            os.makedirs(d, 0o755, exist_ok=True)
        self._write_passwd()
        conf, script = self._config_text()
        with open(self.config, "w", encoding="utf-8") as f:
            f.write(conf)
        os.chmod(self.config, 0o644)
        with open(self.tempfail_script, "w", encoding="utf-8") as f:
            f.write(script)
        os.chmod(self.tempfail_script, 0o755)

    # -- life cycle
    @classmethod
    def _create(cls, **kwargs):
        srv = cls(**kwargs)
        _LIVE.append(srv)
        try:
            srv._setup()
            srv._restart()
        except BaseException:
            srv.close()
            raise
        return srv

    def _ready(self):
        try:
            with AuthClient(self.auth_socket, timeout=2.0) as c:
                c.handshake()
            with AuthClient(self.auth_address, timeout=2.0) as c:
                c.handshake()
            return True
        except (OSError, ProtocolError):
            return False

    def _restart(self):
        if self.closed:
            raise RuntimeError("Dovecot: closed")
        if self.running:
            return self
        with open(os.path.join(self.base, "dovecot.out"), "ab") as out:
            self.proc = subprocess.Popen(
                [self.dovecot_bin, "-F", "-c", self.config],
                stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._ready():
            if self.proc.poll() is not None:
                status = self.proc.returncode
                self.proc = None
                raise RuntimeError(
                    "dovecot exited with status %s while starting; log:\n%s"
                    % (status, tail(self.log_text() + self._out_text())))
            if time.monotonic() >= deadline:
                self._kill()
                raise RuntimeError("dovecot did not start within %.0fs; "
                                   "log:\n%s" % (START_TIMEOUT,
                                                 tail(self.log_text())))
            time.sleep(0.1)
        self.running = True
        return self

    start = _hybridmethod(_create.__func__, _restart)

    def stop(self):
        """Stop Dovecot (configuration kept); start() brings it back on
        the same socket and port."""
        if not self.running:
            return
        self.running = False
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        self._kill()

    def restart(self):
        self.stop()
        return self._restart()

    def _kill(self):
        """Kill whatever is left of Dovecot's process group."""
        if self.proc is None:
            return
        pid = self.proc.pid
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None
        # Children re-parented elsewhere leave with the master; wait for
        # the sockets to be free so that a restart can bind them.
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and self._port_busy():
            time.sleep(0.05)

    def _port_busy(self):
        try:
            with socket.create_connection(self.auth_address, timeout=0.5):
                return True
        except OSError:
            return False

    def close(self):
        """Stop for good and remove the directory (unless OSTIA_E2E_KEEP)."""
        if self.closed:
            return
        try:
            self.stop()
        finally:
            self._kill()
            self.closed = True
            if self in _LIVE:
                _LIVE.remove(self)
            if not os.environ.get("OSTIA_E2E_KEEP"):
                shutil.rmtree(self.base, ignore_errors=True)
                if not self.auth_socket.startswith(self.base + "/"):
                    try:
                        os.unlink(self.auth_socket)
                    except OSError:
                        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- inspection
    def log_text(self):
        return _read(self.log_path)

    def _out_text(self):
        return _read(os.path.join(self.base, "dovecot.out"))

    def auth_requests(self):
        """The AUTH lines Dovecot received, as lists of fields (from its
        auth_debug log, in which resp= shows as <hidden>)."""
        out = []
        for line in self.log_text().splitlines():
            i = line.find("client in: AUTH\t")
            if i >= 0:
                out.append(line[i + len("client in: "):].split("\t"))
        return out


@pytest.fixture
def dovecot_auth():
    """A started DovecotAuth with the default users; closed afterwards."""
    srv = DovecotAuth.start()
    try:
        yield srv
    finally:
        srv.close()


# ---------------------------------------------------------------- client

class ProtocolError(Exception):
    """Dovecot said something the auth protocol does not allow here."""


class Reply:
    """One answer: status "OK", "FAIL" or "CONT"; id; fields (name=value
    parameters, tab-unescaped); flags (parameters without a value); data
    (CONT's base64)."""

    def __init__(self, status, rid, args):
        self.status = status
        self.id = rid
        self.fields = {}
        self.flags = set()
        self.data = None
        if status == "CONT":
            self.data = args[0] if args else ""
            return
        for a in args:
            if "=" in a:
                k, v = a.split("=", 1)
                self.fields[k] = _unescape(v)
            else:
                self.flags.add(a)

    @property
    def temporary(self):
        return "temp" in self.flags or \
            self.fields.get("code") == "temp_fail"

    def __repr__(self):
        shown = {k: v for k, v in self.fields.items() if k != "pass"}
        return "Reply(%s %s %r %r)" % (self.status, self.id, shown,
                                      sorted(self.flags))


def _unescape(s):
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\001" and i + 1 < len(s):
            i += 1
            c = {"0": "\0", "1": "\001", "t": "\t", "r": "\r",
                 "n": "\n", "l": "\n"}.get(s[i], s[i])
        out.append(c)
        i += 1
    return "".join(out)


def _b64(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.b64encode(data).decode("ascii")


class AuthClient:
    """A blocking client of Dovecot's auth-client protocol (version 1).

    address: a UNIX socket path, or (host, port).
    """

    def __init__(self, address, timeout=CLIENT_TIMEOUT):
        if isinstance(address, str):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(address)
        except OSError:
            self.sock.close()
            raise
        self.buf = b""
        self.next_id = 1
        self.server_lines = []

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_line(self, line):
        if "\n" in line:
            raise ValueError("LF in a protocol line")
        self.sock.sendall(line.encode("utf-8") + b"\n")

    def read_line(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise ProtocolError("connection closed by Dovecot")
            self.buf += data
            if len(self.buf) > 65536:
                raise ProtocolError("line too long")
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8", errors="surrogateescape")

    def handshake(self):
        """Send our half, read Dovecot's up to DONE.  Returns a dict:
        version (major, minor), mechs {NAME: [flags]}, spid, cuid,
        cookie_len, lines (the handshake, COOKIE's value replaced)."""
        self.send_line("VERSION\t1\t2")
        self.send_line("CPID\t%d" % os.getpid())
        hs = {"mechs": {}, "lines": []}
        while True:
            line = self.read_line()
            f = line.split("\t")
            shown = line if f[0] != "COOKIE" else "COOKIE\t<cookie>"
            hs["lines"].append(shown)
            if f[0] == "VERSION":
                hs["version"] = (int(f[1]), int(f[2]))
                if hs["version"][0] != 1:
                    raise ProtocolError("version %s" % line)
            elif f[0] == "MECH":
                hs["mechs"][f[1]] = f[2:]
            elif f[0] == "SPID":
                hs["spid"] = f[1]
            elif f[0] == "CUID":
                hs["cuid"] = f[1]
            elif f[0] == "COOKIE":
                hs["cookie_len"] = len(f[1])
            elif f[0] == "DONE":
                if "version" not in hs:
                    raise ProtocolError("no VERSION before DONE")
                return hs

    def reply(self):
        line = self.read_line()
        f = line.split("\t")
        if f[0] not in ("OK", "FAIL", "CONT") or len(f) < 2:
            raise ProtocolError("unexpected reply %r" % f[0])
        return Reply(f[0], int(f[1]), f[2:])

    def start(self, mech, initial=None, service="smtp", secured=False,
              no_penalty=True, **params):
        """Send AUTH; returns the id.  initial: raw bytes/str (encoded
        here), "" for an empty initial response, None for none.  params:
        rip=, lip=, rport=, lport=, session=..."""
        rid = self.next_id
        self.next_id += 1
        line = ["AUTH", str(rid), mech, "service=" + service]
        if secured:
            line.append("secured")
        if no_penalty:
            line.append("no-penalty")
        for k, v in params.items():
            line.append("%s=%s" % (k, v))
        if initial is not None:
            line.append("resp=" + (_b64(initial) if initial != "" else "="))
        self.send_line("\t".join(line))
        return rid

    def cont(self, rid, data):
        self.send_line("CONT\t%d\t%s" % (rid, _b64(data)))

    def plain(self, user, password, **params):
        """PLAIN with an initial response; the final Reply."""
        rid = self.start("PLAIN", "\0%s\0%s" % (user, password), **params)
        r = self.reply()
        if r.id != rid:
            raise ProtocolError("answer for %d, expected %d" % (r.id, rid))
        return r

    def login(self, user, password, **params):
        """LOGIN in two steps (Username:, Password:); the final Reply."""
        rid = self.start("LOGIN", None, **params)
        for value in (user, password):
            r = self.reply()
            if r.status != "CONT":
                return r
            self.cont(rid, value)
        return self.reply()


def check_password(address, user, password, mech="PLAIN", **params):
    """One authentication on a new connection; the final Reply."""
    with AuthClient(address) as c:
        c.handshake()
        if mech.upper() == "PLAIN":
            return c.plain(user, password, **params)
        if mech.upper() == "LOGIN":
            return c.login(user, password, **params)
        raise ValueError("mechanism %s not supported here" % mech)


# ---------------------------------------------------------------- mail

class DovecotMail(DovecotAuth):
    """A private Dovecot (2.3) storing mail: LMTP, the LDA and doveadm.

    For the delivery tests (tests/e2e/15-delivery).  Same life cycle as
    DovecotAuth (start(), stop(), restart(), close(), log_text()), its
    own temporary directory, nothing of the system's Dovecot used.

      .lmtp_socket   Dovecot's LMTP on a UNIX-domain socket, mode 0666
                     (Ostia's lmtp agent runs as the unprivileged mail
                     owner): <dir>/lmtp; .lmtp_unix is "unix:<path>"
      .lmtp_port     LMTP on 127.0.0.1:PORT; .lmtp_inet "inet:127.0.0.1:P"
      .config        dovecot.conf, for `doveadm -c` and Dovecot itself
      .lda_config    a configuration for dovecot-lda run by an
                     unprivileged user (Ostia's pipe service): the same
                     settings, but logging to .lda_log (mode 0666)
      .lda_path      /usr/lib/dovecot/dovecot-lda (class attribute
                     LDA_PATH; require_lda() skips when it is missing)

    Users: `users` is a list of addresses (or a dict address -> extra
    passwd-file fields); they live in a passwd-file serving as passdb
    and userdb, each with uid/gid `uid`/`gid` (default: the current
    user's; give the Maildir owner's, e.g. the Ostia test user's, so
    that Dovecot's LMTP, the LDA and doveadm write as that user).
    Mail goes to `mail_location` (default maildir:<dir>/mail/%d/%n, so
    .maildir(address) is <dir>/mail/DOMAIN/LOCAL); give
    "maildir:BASE/%d/%n" to read Ostia's virtual Maildirs with doveadm.
    An unknown address is refused by LMTP with 550 5.1.1 and makes the
    LDA exit 67 (EX_NOUSER).

        srv = DovecotMail.start(users=["alice@lmtp.test"], uid=U, gid=G)
        srv.fetch("alice@lmtp.test")        # doveadm fetch 'hdr body' all
        srv.search("alice@lmtp.test")       # [(guid, uid), ...]
        srv.message_files("alice@lmtp.test")
        srv.close()
    """

    LDA_PATH = "/usr/lib/dovecot/dovecot-lda"

    def __init__(self, users=(), uid=None, gid=None, mail_location=None,
                 extra_config="", lmtp_socket=None):
        super().__init__(users={}, tempfail_users=(), protocols="lmtp",
                         extra_config=extra_config)
        if isinstance(users, dict):
            self.mail_users = dict(users)
        else:
            self.mail_users = {u: "" for u in users}
        self.uid = os.getuid() if uid is None else int(uid)
        self.gid = os.getgid() if gid is None else int(gid)
        self.mail_root = os.path.join(self.base, "mail")
        self.mail_location = mail_location or \
            "maildir:%s/%%d/%%n" % self.mail_root
        self.lmtp_socket = lmtp_socket or os.path.join(self.base, "lmtp")
        self.lmtp_port = free_port()
        self.lda_config = os.path.join(self.base, "lda.conf")
        self.lda_log = os.path.join(self.base, "lda.log")
        self.lda_path = self.LDA_PATH

    @property
    def lmtp_unix(self):
        return "unix:" + self.lmtp_socket

    @property
    def lmtp_inet(self):
        return "inet:127.0.0.1:%d" % self.lmtp_port

    @property
    def lmtp_address(self):
        return ("127.0.0.1", self.lmtp_port)

    @classmethod
    def require_lda(cls):
        """The LDA's path; skip the calling test when it is missing."""
        if not os.access(cls.LDA_PATH, os.X_OK):
            pytest.skip("Dovecot's LDA %s is not installed (Debian package "
                        "dovecot-core)" % cls.LDA_PATH)
        return cls.LDA_PATH

    def _write_passwd(self):
        lines = []
        for name, extra in self.mail_users.items():
            if ":" in name or "\n" in name or "\n" in extra:
                raise ValueError("user %r cannot go in a passwd-file" % name)
            # user:password:uid:gid:gecos:home:shell:extra_fields
            lines.append("%s:{PLAIN}unused-%s:%d:%d::::%s\n"
                         % (name, secrets.token_hex(4), self.uid, self.gid,
                            extra))
        tmp = self.passwd_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(lines)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.passwd_file)

    def _config_text(self):
        ids = self._ids()
        lines = [
            "# Written by tests/e2e/dovecot_server.py (DovecotMail)",
            "base_dir = %s" % self.base_dir,
            "state_dir = %s" % self.state_dir,
            "instance_name = %s" % self.instance,
            "log_path = %s" % self.log_path,
            "protocols = lmtp",
            "listen = 127.0.0.1",
            "ssl = no",
            "auth_verbose = yes",
            "mail_location = %s" % self.mail_location,
            "first_valid_uid = 1",
            "first_valid_gid = 1",
            "mail_fsync = always",
            "lmtp_save_to_detail_mailbox = no",
        ]
        if ids is not None:
            lines += [
                "default_internal_user = %s" % ids[0],
                "default_internal_group = %s" % ids[1],
                "default_login_user = %s" % ids[0],
            ]
        lines += [
            "passdb {",
            "  driver = passwd-file",
            "  args = %s" % self.passwd_file,
            "}",
            "userdb {",
            "  driver = passwd-file",
            "  args = %s" % self.passwd_file,
            "}",
            "service lmtp {",
            "  unix_listener %s {" % self.lmtp_socket,
            "    mode = 0666",
            "  }",
            "  inet_listener lmtp {",
            "    address = 127.0.0.1",
            "    port = %d" % self.lmtp_port,
            "  }",
            "}",
            # The LDA runs as an unprivileged user: it must reach the
            # userdb and the stats writer.
            "service auth {",
            "  unix_listener auth-userdb {",
            "    mode = 0666",
            "  }",
            "}",
            "service stats {",
            "  unix_listener stats-writer {",
            "    mode = 0666",
            "  }",
            "}",
        ]
        return "\n".join(lines) + "\n" + self.extra_config, None

    def _setup(self):
        for d in (self.base_dir, self.state_dir):
            os.makedirs(d, 0o755, exist_ok=True)
        if not os.path.isdir(self.mail_root):
            os.makedirs(self.mail_root, 0o755)
            if os.geteuid() == 0:
                os.chown(self.mail_root, self.uid, self.gid)
        self._write_passwd()
        conf, _ = self._config_text()
        with open(self.config, "w", encoding="utf-8") as f:
            f.write(conf)
        os.chmod(self.config, 0o644)
        # The LDA reads the same settings but logs to a file it may
        # write as the unprivileged user the pipe agent runs as.
        with open(self.lda_log, "a", encoding="utf-8"):
            pass
        os.chmod(self.lda_log, 0o666)
        with open(self.lda_config, "w", encoding="utf-8") as f:
            f.write("!include %s\nlog_path = %s\n"
                    % (self.config, self.lda_log))
        os.chmod(self.lda_config, 0o644)

    def _lmtp_greets(self, address):
        family = socket.AF_UNIX if isinstance(address, str) \
            else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(2.0)
            s.connect(address)
            return s.recv(512).startswith(b"220 ")

    def _ready(self):
        try:
            return (self._lmtp_greets(self.lmtp_socket)
                    and self._lmtp_greets(self.lmtp_address)
                    and os.path.exists(os.path.join(self.base_dir,
                                                    "auth-userdb")))
        except OSError:
            return False

    def _port_busy(self):
        try:
            with socket.create_connection(self.lmtp_address, timeout=0.5):
                return True
        except OSError:
            return False

    def close(self):
        super().close()
        if not os.environ.get("OSTIA_E2E_KEEP") and \
                not self.lmtp_socket.startswith(self.base + "/"):
            try:
                os.unlink(self.lmtp_socket)
            except OSError:
                pass

    # -- the mail

    def lda_log_text(self):
        return _read(self.lda_log)

    def maildir(self, address):
        """The Maildir of address under the default mail_location."""
        local, _, domain = address.rpartition("@")
        return os.path.join(self.mail_root, domain, local)

    def message_files(self, address):
        """Paths of the messages in address's Maildir (new/ and cur/),
        sorted; [] when it does not exist yet."""
        out = []
        root = self.maildir(address)
        for sub in ("new", "cur"):
            d = os.path.join(root, sub)
            try:
                out += [os.path.join(d, n) for n in os.listdir(d)
                        if not n.startswith(".")]
            except FileNotFoundError:
                pass
        return sorted(out)

    def doveadm(self, *args, timeout=60):
        """Run `doveadm -c CONFIG ARGS...`; the CompletedProcess (text)."""
        return subprocess.run([self.doveadm_bin, "-c", self.config,
                               *[str(a) for a in args]],
                              stdin=subprocess.DEVNULL,
                              capture_output=True, text=True,
                              errors="replace", timeout=timeout)

    def _doveadm_ok(self, *args):
        r = self.doveadm(*args)
        if r.returncode != 0:
            raise AssertionError(
                "doveadm -c %s %s exited %d\nstdout:\n%s\nstderr:\n%s\n"
                "--- dovecot log (tail) ---\n%s"
                % (self.config, " ".join(args), r.returncode, r.stdout,
                   r.stderr, tail(self.log_text())))
        return r

    def fetch(self, user, fields="hdr body", query="all"):
        """`doveadm fetch -u USER FIELDS QUERY`: its output (AssertionError
        with stderr and Dovecot's log when it fails)."""
        return self._doveadm_ok("fetch", "-u", user, fields,
                                *query.split()).stdout

    def fetch_checked(self, user, fields="hdr body", query="all"):
        """fetch(), also failing when doveadm complained on stderr (e.g.
        about a Maildir file name whose S= size is wrong)."""
        r = self._doveadm_ok("fetch", "-u", user, fields, *query.split())
        if r.stderr.strip():
            raise AssertionError("doveadm fetch -u %s printed errors:\n%s"
                                 % (user, r.stderr))
        return r.stdout

    def search(self, user, query="all"):
        """`doveadm search -u USER QUERY`: [(mailbox_guid, uid), ...]."""
        out = self._doveadm_ok("search", "-u", user,
                               *query.split()).stdout
        res = []
        for line in out.splitlines():
            f = line.split()
            if len(f) == 2:
                res.append((f[0], int(f[1])))
        return res


@pytest.fixture
def dovecot_mail():
    """A started DovecotMail with alice@ and bob@lmtp.test; closed
    afterwards."""
    srv = DovecotMail.start(users=["alice@lmtp.test", "bob@lmtp.test"])
    try:
        yield srv
    finally:
        srv.close()
