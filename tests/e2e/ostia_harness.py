# SPDX-License-Identifier: MIT
"""Harness for the end-to-end scenarios: runs the real `ostia` binary.

Scenarios (tests/e2e/NN-name/test_*.py) import from here; conftest.py puts
this directory on sys.path and provides the `ostia_factory` and
`ostia_user` fixtures.  Standard library and pytest only.

Environment:
  OSTIA_BIN         absolute path of the built ostia binary (set by ctest);
                    unset -> tests that need ostia skip; set but not
                    executable -> the test fails.
  OSTIA_SOURCE_DIR  repository root (set by ctest).
  OSTIA_E2E_KEEP    if set, ostia_factory keeps temporary directories.

Privileges: the tests run as root in CI; the ostia master then drops its
children to mail_owner, so every Ostia directory is created world
traversable (0755).  Processes are started in their own session so that
close() can kill whatever is left of their process group.

Known limits: free ports are picked by binding port 0 and closing, so
another program may grab one before ostia binds it; log offsets from
log_mark() are character offsets in the decoded log text.
"""

import ipaddress
import os
import pwd
import re
import secrets
import select
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import tempfile
import time

import pytest

TEST_USER = "ostia-test"

# Directories searched after PATH for peer programs (daemons live in sbin,
# Dovecot's helpers in /usr/lib/dovecot).
EXTRA_BIN_DIRS = ("/usr/sbin", "/sbin", "/usr/lib/dovecot",
                  "/usr/lib/postfix/sbin")

START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0


# ---------------------------------------------------------------- helpers

def exact_content_factory(factory):
    """factory (conftest's ostia_factory) for tests that compare a stored
    message with what the client sent, byte for byte: the instances get
    local_header_rewrite_clients empty (unless a test sets it), so that
    the test client at 127.0.0.1, an address of the listener's
    interface, is not a local client whose messages get the From:,
    Date: and Message-ID: they lack (21-header-rewrite tests that)."""
    def make(**kwargs):
        main_cf = dict(kwargs.pop("main_cf", None) or {})
        main_cf.setdefault("local_header_rewrite_clients", "")
        return factory(main_cf=main_cf, **kwargs)
    return make


def wait_until(predicate, timeout=10.0, interval=0.05, what="condition"):
    """Poll predicate() until it returns a true value; return that value.

    Raises AssertionError naming `what` after `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s"
                                 % (timeout, what))
        time.sleep(interval)


# ---------------------------------------------------------------- spool

# A queue file that smtpd is still writing is incoming/ID with this mode
# (src/common/queue_proto.h); the commit makes it 0600.
QUEUE_PARTIAL_MODE = 0o200


def spool_entries(queue_dir, sub):
    """(name, partial) for the regular files in queue_dir/sub, sorted."""
    path = os.path.join(queue_dir, sub)
    try:
        names = sorted(os.listdir(path))
    except FileNotFoundError:
        return []
    out = []
    for n in names:
        try:
            st = os.lstat(os.path.join(path, n))
        except FileNotFoundError:
            continue            # removed meanwhile
        if stat.S_ISREG(st.st_mode):
            out.append((n, stat.S_IMODE(st.st_mode) == QUEUE_PARTIAL_MODE))
    return out


def partial_files(queue_dir):
    """Queue IDs whose file in incoming/ is still being written."""
    return [n for n, partial in spool_entries(queue_dir, "incoming")
            if partial]


def committed_files(queue_dir, sub="incoming"):
    """Names of the committed (not partial) files in queue_dir/sub."""
    return [n for n, partial in spool_entries(queue_dir, sub)
            if not partial]


def unfinished_files(queue_dir):
    """Files of messages being received: the partial files in incoming/,
    and anything in tmp/ (where the queue process writes only its own
    notices, for a moment)."""
    return partial_files(queue_dir) + committed_files(queue_dir, "tmp")


QUEUE_ID_RE = re.compile(r"\A[0-9A-HJKMNP-TV-Z]{16}\Z")


def queue_file_sender(path):
    """The envelope sender (record S) of a queue file, or None when the
    file cannot be read or has none (docs/queue-format.md)."""
    try:
        with open(path, "rb") as f:
            data = f.read(64 * 1024)
    except OSError:
        return None
    pos = 0
    while pos + 5 <= len(data):
        rtype = data[pos:pos + 1]
        n = int.from_bytes(data[pos + 1:pos + 5], "big")
        payload = data[pos + 5:pos + 5 + n]
        if rtype == b"S":
            return payload.decode("utf-8", "replace")
        if rtype in (b"R", b"M", b"D", b"X"):
            return None
        pos += 5 + n
    return None


def is_postmaster_notice(path):
    """A message the mail system sent the postmaster (notify_classes:
    smtpd's session transcripts, copies of bounces), from the
    double-bounce sender."""
    sender = queue_file_sender(path)
    return sender is not None and \
        re.match(r"double-bounce(@|\Z)", sender) is not None


def queue_files(queue_dir, postmaster_notices=False):
    """{queue ID: path} of every committed queue file: any subdirectory
    of queue_dir but tmp/ and spare/ (files kept for reuse, never
    messages), partial files left out.  The notices Ostia sends the
    postmaster about what it refused (notify_classes; the default
    "resource, software" reports temporary failures) are left out too,
    unless postmaster_notices: they are not the refused message."""
    out = {}
    try:
        subs = os.listdir(queue_dir)
    except FileNotFoundError:
        return out
    for sub in subs:
        top = os.path.join(queue_dir, sub)
        if sub in ("tmp", "spare") or not os.path.isdir(top):
            continue
        for dirpath, _dirs, files in os.walk(top):
            for f in files:
                path = os.path.join(dirpath, f)
                try:
                    st = os.lstat(path)
                except FileNotFoundError:
                    continue
                if QUEUE_ID_RE.match(f) and \
                        stat.S_IMODE(st.st_mode) != QUEUE_PARTIAL_MODE \
                        and (postmaster_notices or
                             not is_postmaster_notice(path)):
                    out[f] = path
    return out


def wait_no_partial(queue_dir, timeout=30):
    """Wait until no file in incoming/ is partial (aborted transactions'
    files are removed by the queue process, asynchronously)."""
    wait_until(lambda: partial_files(queue_dir) == [], timeout=timeout,
               what="no partial queue file in incoming/ (left: %r)"
               % partial_files(queue_dir))


def tail(text, lines=40):
    """Return the last `lines` lines of text."""
    return "\n".join(text.splitlines()[-lines:])


def _read_text(path):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def _write_atomic(path, text, mode=0o644):
    tmp = "%s.tmp%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


# ---------------------------------------------------------------- ports

def free_ports(n, host="127.0.0.1"):
    """Return n distinct TCP ports that were free on host a moment ago."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(family, socket.SOCK_STREAM)
            socks.append(s)
            s.bind((host, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port(host="127.0.0.1"):
    """Return one TCP port that was free on host a moment ago."""
    return free_ports(1, host)[0]


def dead_mysql_table(directory):
    """The spec ("mysql:PATH") of a mysql: table whose only host is a
    closed loopback port: every lookup in it fails (a table that cannot
    answer, for fail-closed tests).  PATH is written in directory."""
    port = free_port()
    path = os.path.join(str(directory), "dead-mysql.cf")
    with open(path, "w") as f:
        f.write("hosts = inet:127.0.0.1:%d\nuser = u\npassword = secret\n"
                "dbname = d\nquery = SELECT x FROM t WHERE k='%%s'\n" % port)
    os.chmod(path, 0o644)
    return "mysql:" + path


# ---------------------------------------------------------------- binaries

def find_binary(name):
    """Return the absolute path of program `name`, or None.

    Searches PATH, then EXTRA_BIN_DIRS.  A name containing "/" is checked
    as a path.
    """
    if "/" in name:
        return name if os.access(name, os.X_OK) else None
    path = shutil.which(name)
    if path:
        return path
    return shutil.which(name, path=os.pathsep.join(EXTRA_BIN_DIRS))


def require_peer(name):
    """Return the path of peer program `name`; skip the test if missing."""
    path = find_binary(name)
    if path is None:
        pytest.skip("peer %s is not installed (searched PATH and %s)"
                    % (name, ", ".join(EXTRA_BIN_DIRS)))
    return path


require_binary = require_peer


def ostia_bin():
    """Return OSTIA_BIN; skip if unset, fail if it is not an executable."""
    path = os.environ.get("OSTIA_BIN")
    if not path:
        pytest.skip("OSTIA_BIN is not set: run through ctest, or set "
                    "OSTIA_BIN=/path/to/build/ostia")
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        pytest.fail("OSTIA_BIN=%s is not an executable file" % path)
    return os.path.abspath(path)


def source_dir():
    """Return the repository root (OSTIA_SOURCE_DIR, else derived)."""
    env = os.environ.get("OSTIA_SOURCE_DIR")
    if env:
        return env
    return os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__))))


# ---------------------------------------------------------------- user

def ensure_test_user():
    """Return the user name to use as mail_owner.

    As root: the system user TEST_USER, created with useradd when missing
    (retrying while another test process holds the passwd lock).  Not
    root: the current user's name.
    """
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    last = None
    for _ in range(40):
        try:
            pwd.getpwnam(TEST_USER)
            return TEST_USER
        except KeyError:
            pass
        useradd = find_binary("useradd")
        if useradd is None:
            pytest.fail("useradd not found; cannot create user %s"
                        % TEST_USER)
        last = subprocess.run(
            [useradd, "--system", "--no-create-home",
             "--shell", "/usr/sbin/nologin", TEST_USER],
            capture_output=True, text=True, timeout=60)
        # 9: created concurrently by another run; 10: passwd file locked.
        if last.returncode not in (0, 9, 10):
            break
        if last.returncode != 0:
            time.sleep(0.25)
    try:
        pwd.getpwnam(TEST_USER)
        return TEST_USER
    except KeyError:
        pytest.fail("cannot create user %s: useradd exit %s: %s"
                    % (TEST_USER, last and last.returncode,
                       last and last.stderr.strip()))


# ---------------------------------------------------------------- TLS

def _openssl(*args):
    exe = find_binary("openssl")
    if exe is None:
        pytest.skip("peer openssl is not installed")
    r = subprocess.run([exe, *args], capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed (exit %d): %s"
                           % (" ".join(args), r.returncode, r.stderr.strip()))
    return r.stdout


def _safe_name(name):
    return re.sub(r"[^A-Za-z0-9.-]", "_", name)


def _check_subject(name):
    # Passed in -subj "/CN=name"; keep it free of DN syntax characters.
    if not re.fullmatch(r"[A-Za-z0-9 .*_:-]{1,64}", name):
        raise ValueError("unsupported certificate name %r" % name)


def _gen_key(path, key_type):
    if key_type == "rsa":
        _openssl("genpkey", "-algorithm", "RSA",
                 "-pkeyopt", "rsa_keygen_bits:2048", "-out", path)
    elif key_type == "ec":
        _openssl("genpkey", "-algorithm", "EC",
                 "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
    else:
        raise ValueError("key_type must be 'rsa' or 'ec', not %r" % key_type)
    os.chmod(path, 0o600)


def _san_list(sans):
    out = []
    for s in sans:
        try:
            ipaddress.ip_address(s)
            out.append("IP:" + s)
        except ValueError:
            out.append("DNS:" + s)
    return ", ".join(out)


def _leaf_extensions(sans, key_type, eku):
    usage = "digitalSignature"
    if key_type == "rsa":
        usage += ", keyEncipherment"
    lines = ["[v3_leaf]",
             "basicConstraints = critical, CA:FALSE",
             "keyUsage = critical, " + usage,
             "extendedKeyUsage = " + ", ".join(eku),
             "subjectKeyIdentifier = hash"]
    if sans:
        lines.append("subjectAltName = " + _san_list(sans))
    return lines


_REQ_CONFIG = ["[req]", "distinguished_name = dn", "prompt = no",
               "[dn]", "CN = placeholder"]


def _serial():
    return str(secrets.randbits(63) | 1)


class CA:
    """A throwaway certificate authority in `directory` (openssl CLI).

    Attributes: dir, ca_cert, ca_key (PEM paths).  Keys are mode 0600.
    """

    def __init__(self, directory, name="Ostia Test CA", days=30,
                 key_type="rsa"):
        _check_subject(name)
        self.dir = str(directory)
        os.makedirs(self.dir, exist_ok=True)
        self.ca_key = os.path.join(self.dir, "ca.key")
        self.ca_cert = os.path.join(self.dir, "ca.crt")
        cnf = os.path.join(self.dir, "ca.cnf")
        with open(cnf, "w") as f:
            f.write("\n".join(_REQ_CONFIG + [
                "[v3_ca]",
                "basicConstraints = critical, CA:TRUE",
                "keyUsage = critical, keyCertSign, cRLSign",
                "subjectKeyIdentifier = hash"]) + "\n")
        _gen_key(self.ca_key, key_type)
        _openssl("req", "-x509", "-new", "-config", cnf,
                 "-extensions", "v3_ca", "-key", self.ca_key,
                 "-subj", "/CN=" + name, "-sha256", "-days", str(days),
                 "-set_serial", _serial(), "-out", self.ca_cert)

    def issue(self, name, sans=None, key_type="rsa", days=30,
              eku=("serverAuth",)):
        """Issue a leaf certificate signed by this CA.

        name: subject CN and file stem; sans: DNS names / IP addresses for
        subjectAltName (default [name]); eku: extendedKeyUsage values
        (add "clientAuth" for client certificates).
        Returns (cert_path, key_path, chain_path); chain_path holds the
        leaf followed by the CA certificate.
        """
        _check_subject(name)
        if sans is None:
            sans = [name]
        stem = os.path.join(self.dir, _safe_name(name))
        key, csr = stem + ".key", stem + ".csr"
        cert, chain, cnf = stem + ".crt", stem + ".chain.pem", stem + ".cnf"
        with open(cnf, "w") as f:
            f.write("\n".join(_REQ_CONFIG
                              + _leaf_extensions(sans, key_type, eku)) + "\n")
        _gen_key(key, key_type)
        _openssl("req", "-new", "-config", cnf, "-key", key,
                 "-subj", "/CN=" + name, "-out", csr)
        _openssl("x509", "-req", "-in", csr, "-CA", self.ca_cert,
                 "-CAkey", self.ca_key, "-set_serial", _serial(),
                 "-days", str(days), "-sha256", "-extfile", cnf,
                 "-extensions", "v3_leaf", "-out", cert)
        with open(chain, "w") as out:
            out.write(_read_text(cert))
            out.write(_read_text(self.ca_cert))
        return cert, key, chain


def make_ca(directory, **kwargs):
    """Create a throwaway CA in directory; see CA."""
    return CA(directory, **kwargs)


def self_signed(directory, name, sans=None, key_type="rsa", days=30):
    """Create a self-signed server certificate; return (cert, key)."""
    _check_subject(name)
    if sans is None:
        sans = [name]
    os.makedirs(str(directory), exist_ok=True)
    stem = os.path.join(str(directory), _safe_name(name) + ".self")
    key, cert, cnf = stem + ".key", stem + ".crt", stem + ".cnf"
    with open(cnf, "w") as f:
        f.write("\n".join(_REQ_CONFIG
                          + _leaf_extensions(sans, key_type,
                                             ("serverAuth",))) + "\n")
    _gen_key(key, key_type)
    _openssl("req", "-x509", "-new", "-config", cnf, "-extensions",
             "v3_leaf", "-key", key, "-subj", "/CN=" + name, "-sha256",
             "-days", str(days), "-set_serial", _serial(), "-out", cert)
    return cert, key


def client_tls_context(cafile=None, verify=True):
    """Return an ssl.SSLContext for a TLS client.

    cafile: trust only this CA file; verify=False disables certificate
    and host name checks (for opportunistic-TLS tests).
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        if cafile:
            ctx.load_verify_locations(cafile=cafile)
        else:
            ctx.load_default_certs()
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


# ---------------------------------------------------------------- SMTP

class SmtpError(AssertionError):
    """A protocol-level surprise (timeout, EOF, malformed reply)."""


class SmtpReply:
    """One SMTP reply: code (int), lines (texts without code), raw lines."""

    def __init__(self, code, lines, raw):
        self.code = code
        self.lines = lines
        self.raw = raw

    @property
    def text(self):
        return "\n".join(self.lines)

    def __repr__(self):
        return "SmtpReply(%r)" % "\n".join(self.raw)


_REPLY_LINE = re.compile(r"([2-5][0-9][0-9])([ -])(.*)\Z", re.S)


class SmtpClient:
    """A raw line-level SMTP client over a connected socket.

    Nothing is sent or read implicitly: read the greeting with
    read_reply().  Lines are capped at max_line bytes.
    """

    def __init__(self, sock, timeout=5.0, max_line=65536):
        self.sock = sock
        self.timeout = timeout
        self.max_line = max_line
        self._buf = b""

    def fileno(self):
        return self.sock.fileno()

    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def send_line(self, line):
        """Send line followed by CRLF."""
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send_raw(line + b"\r\n")

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise SmtpError("timed out reading from server; have %r"
                            % self._buf)
        # An ssl socket may hold decrypted bytes select() cannot see.
        pending = getattr(self.sock, "pending", None)
        if not (pending and pending()):
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                raise SmtpError("timed out reading from server; have %r"
                                % self._buf)
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("server closed the connection; have %r"
                           % self._buf)
        self._buf += data

    def read_line(self, timeout=None):
        """Read one line; return it as bytes without the line ending."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            i = self._buf.find(b"\n")
            if i >= 0:
                line, self._buf = self._buf[:i], self._buf[i + 1:]
                if line.endswith(b"\r"):
                    line = line[:-1]
                return line
            if len(self._buf) > self.max_line:
                raise SmtpError("line longer than %d bytes" % self.max_line)
            self._fill(deadline)

    def read_reply(self, timeout=None):
        """Read one whole (possibly multi-line) reply; return SmtpReply.

        Raises SmtpError on a malformed line, a code that changes inside
        the reply or a timeout, EOFError when the server closes first.
        """
        deadline = time.monotonic() + (timeout or self.timeout)
        code, lines, raw = None, [], []
        while True:
            line = self.read_line(max(0.001, deadline - time.monotonic()))
            text = line.decode("utf-8", errors="replace")
            raw.append(text)
            m = _REPLY_LINE.match(text)
            if m is None:
                raise SmtpError("malformed reply line %r" % text)
            if code is not None and int(m.group(1)) != code:
                raise SmtpError("reply code changed inside reply: %r" % raw)
            code = int(m.group(1))
            lines.append(m.group(3))
            if m.group(2) == " ":
                return SmtpReply(code, lines, raw)

    def expect(self, code, timeout=None):
        """Read a reply and assert its code (int, or a "2"-style prefix)."""
        reply = self.read_reply(timeout)
        if not str(reply.code).startswith(str(code)):
            raise SmtpError("expected %s, got %r" % (code, reply))
        return reply

    def command(self, line, expect=None, timeout=None):
        """Send line, read the reply, optionally check its code."""
        self.send_line(line)
        if expect is None:
            return self.read_reply(timeout)
        return self.expect(expect, timeout)

    def buffered(self):
        """Bytes received but not yet consumed."""
        return self._buf

    def starttls(self, context, server_hostname=None):
        """Wrap the socket in TLS (after a 220 to STARTTLS).

        Fails if the server sent anything after its 220 in cleartext (a
        STARTTLS injection must never be buffered across the handshake).
        """
        if self._buf:
            raise SmtpError("cleartext bytes after STARTTLS reply: %r"
                            % self._buf)
        self.sock.settimeout(self.timeout)
        self.sock = context.wrap_socket(self.sock,
                                        server_hostname=server_hostname)
        self.sock.settimeout(None)
        return self.sock

    def wait_closed(self, timeout=None):
        """Return True if the server closes the connection in time.

        Data received meanwhile is kept in the buffer.
        """
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            while True:
                self._fill(deadline)
        except EOFError:
            return True
        except SmtpError:
            return False
        except OSError:
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect_smtp(host, port, timeout=5.0):
    """Connect to host:port; return an SmtpClient (greeting not read)."""
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.settimeout(None)  # SmtpClient applies its own deadlines
    return SmtpClient(sock, timeout=timeout)


# ---------------------------------------------------------------- Ostia

_PORT_PLACEHOLDER = re.compile(r"@port:([A-Za-z0-9_.-]+)@")


def _format_value(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def _proc_stat(pid):
    """Return (ppid, pgid) of pid from /proc, or None."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rfind(b")") + 2:].split()
    # rest: state ppid pgrp session ...
    if rest[0] == b"Z":
        return None
    return int(rest[1]), int(rest[2])


def process_stopped(pid):
    """True when pid is stopped (SIGSTOP): state T in /proc/PID/stat."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "T"
    except OSError:
        return False


def _all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _alive(pid):
    return pid is not None and _proc_stat(pid) is not None


class Ostia:
    """One ostia instance with its own configuration, spool and log.

    Layout under tmpdir (mode 0755): etc/ (CONFDIR: main.cf, master.cf),
    spool/ (queue_directory), data/ (data_directory), log/ostia.log
    (maillog_file), run.out (stdout and stderr of the foreground master).
    Only etc/ and log/ are created here; ostia creates the rest.

    main_cf: parameters merged over the defaults (None deletes one; bools
    become yes/no, lists are joined with ", ").  master_cf: text; each
    "@port:NAME@" is replaced by a free port, recorded in .ports[NAME].
    The default master.cf is one smtpd on 127.0.0.1:.ports["smtp"].
    """

    def __init__(self, tmpdir=None, main_cf=None, master_cf=None, user=None,
                 binary=None, ports=None):
        self.binary = binary or ostia_bin()
        if tmpdir is None:
            tmpdir = tempfile.mkdtemp(prefix="ostia-e2e-")
        self.tmpdir = os.path.abspath(str(tmpdir))
        os.makedirs(self.tmpdir, exist_ok=True)
        os.chmod(self.tmpdir, 0o755)
        self.confdir = os.path.join(self.tmpdir, "etc")
        os.makedirs(self.confdir, exist_ok=True)
        os.makedirs(os.path.join(self.tmpdir, "log"), exist_ok=True)
        os.chmod(self.confdir, 0o755)
        os.chmod(os.path.join(self.tmpdir, "log"), 0o755)
        self.run_out = os.path.join(self.tmpdir, "run.out")
        self.user = user or ensure_test_user()
        self.ports = dict(ports or {})
        self.proc = None
        self.returncode = None
        self._daemon_pid = None
        self.main_cf = {}
        self.write_main_cf(main_cf or {})
        if master_cf is None:
            master_cf = ("127.0.0.1:@port:smtp@ inet n - n - 1 smtpd\n")
        self.write_master_cf(master_cf)

    # ---- configuration

    def defaults(self):
        t = self.tmpdir
        return {
            "queue_directory": os.path.join(t, "spool"),
            "data_directory": os.path.join(t, "data"),
            "maillog_file": os.path.join(t, "log", "ostia.log"),
            "mail_owner": self.user,
            "inet_interfaces": "127.0.0.1",
            "myhostname": "test.example",
            "service_throttle_time": "1s",
            # No reverse lookups of clients: the machine's resolver may
            # be slow or absent.  Tests of DNS (18-, 19-, 20-) set
            # dns_resolvers to their own server and turn this on.
            "smtpd_peername_lookup": "no",
        }

    @property
    def main_cf_path(self):
        return os.path.join(self.confdir, "main.cf")

    @property
    def master_cf_path(self):
        return os.path.join(self.confdir, "master.cf")

    @property
    def queue_dir(self):
        return self.main_cf.get("queue_directory",
                                os.path.join(self.tmpdir, "spool"))

    @property
    def log_path(self):
        return self.main_cf.get("maillog_file",
                                os.path.join(self.tmpdir, "log", "ostia.log"))

    def _render_main_cf(self):
        out = ["# written by ostia_harness"]
        for name, value in self.main_cf.items():
            out.append("%s = %s" % (name, _format_value(value)))
        _write_atomic(self.main_cf_path, "\n".join(out) + "\n")

    def write_main_cf(self, params=None):
        """Rewrite main.cf as the defaults merged with params."""
        merged = self.defaults()
        merged.update(params or {})
        self.main_cf = {k: v for k, v in merged.items() if v is not None}
        self._render_main_cf()

    def update_main_cf(self, params):
        """Merge params into the current main.cf (None deletes)."""
        for name, value in params.items():
            if value is None:
                self.main_cf.pop(name, None)
            else:
                self.main_cf[name] = value
        self._render_main_cf()

    def set_param(self, name, value):
        """Set (or with None, delete) one main.cf parameter."""
        self.update_main_cf({name: value})

    def write_main_cf_text(self, text):
        """Write main.cf verbatim (for syntax tests); .main_cf is unchanged."""
        _write_atomic(self.main_cf_path, text)

    def write_master_cf(self, text):
        """Write master.cf, replacing each @port:NAME@ with a free port."""
        def port(m):
            name = m.group(1)
            if name not in self.ports:
                # Each free_port() closes its socket, so the kernel may
                # hand the same port out twice in a row: never give two
                # services one port.
                used = set(self.ports.values())
                p = free_port()
                while p in used:
                    p = free_port()
                self.ports[name] = p
            return str(self.ports[name])
        self.master_cf = _PORT_PLACEHOLDER.sub(port, text)
        _write_atomic(self.master_cf_path, self.master_cf)

    @property
    def port(self):
        """The default smtpd port (.ports["smtp"])."""
        return self.ports["smtp"]

    # ---- command line

    def cli(self, *args, check=False, timeout=30, input=None, env=None):
        """Run `ostia -c CONFDIR ARGS...`; return the CompletedProcess.

        check=True raises AssertionError (with stdout and stderr) on a
        non-zero exit.
        """
        cmd = [self.binary, "-c", self.confdir, *[str(a) for a in args]]
        if args and args[0] in ("start", "run"):
            cmd = [*self.leak_check_wrapper(), *cmd]
        r = subprocess.run(cmd, capture_output=True, text=True,
                           errors="replace", timeout=timeout, input=input,
                           env=env, stdin=None if input is not None
                           else subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(
                "%s exited %d\nstdout:\n%s\nstderr:\n%s"
                % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
        return r

    def conf(self, *args, check=False, timeout=30):
        """Run `ostia conf ARGS...`."""
        return self.cli("conf", *args, check=check, timeout=timeout)

    def get_param(self, name):
        """Return the value `ostia conf NAME` prints for one parameter."""
        r = self.conf(name, check=True)
        for line in r.stdout.splitlines():
            k, sep, v = line.partition("=")
            if sep and k.strip() == name:
                return v.strip()
        raise AssertionError("ostia conf %s printed no value: %r"
                             % (name, r.stdout))

    def check(self, check=False):
        """Run `ostia check`."""
        return self.cli("check", check=check)

    def is_running(self):
        """True when `ostia status` exits 0."""
        try:
            return self.cli("status", timeout=5).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    # ---- processes

    def leak_check_wrapper(self):
        """argv prefix for starting the master in the sanitizer run.

        LeakSanitizer checks a process at its exit by reading its
        /proc/self, which a process chrooted to queue_directory (the
        internal services, when started as root) does not have: it would
        only print "LeakSanitizer has encountered a fatal error" and
        check nothing.  So, when leaks are checked and we are root, the
        master starts in a mount namespace of its own (`unshare`) where
        proc is mounted on QUEUE/proc; the mount goes away with the last
        process of that namespace, and everyone else sees an empty
        directory.  Otherwise: no prefix.
        """
        if "detect_leaks=1" not in os.environ.get("ASAN_OPTIONS", "") or \
                os.geteuid() != 0:
            return []
        unshare = find_binary("unshare")
        if unshare is None:
            return []
        mnt = os.path.join(self.queue_dir, "proc")
        # A missing queue_directory is made as the master would make it
        # (root, 0755); one that exists keeps the mode a test gave it.
        if not os.path.isdir(self.queue_dir):
            os.makedirs(self.queue_dir)
            os.chmod(self.queue_dir, 0o755)
        if not os.path.isdir(mnt):
            os.mkdir(mnt)
            os.chmod(mnt, 0o555)
        return [unshare, "--mount-proc=" + mnt, "--propagation", "private",
                "--"]

    def start_foreground(self, timeout=START_TIMEOUT, extra_args=(),
                         wrapper=()):
        """Start `ostia -c CONFDIR run` and wait until `status` exits 0.

        wrapper: argv prefix that execs ostia in the same process (e.g.
        setpriv to run the master as an ordinary user).

        Raises AssertionError with the log and run.out tails when the
        master exits or is not up within timeout seconds.
        """
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("already running (pid %d)" % self.proc.pid)
        out = open(self.run_out, "ab")
        try:
            # A wrapper (setpriv) makes the master an ordinary user,
            # whose processes do not chroot: /proc stays theirs.
            self.proc = subprocess.Popen(
                [*(() if wrapper else self.leak_check_wrapper()), *wrapper,
                 self.binary, "-c", self.confdir, "run",
                 *extra_args],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True)
        finally:
            out.close()
        self.returncode = None
        deadline = time.monotonic() + timeout
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.returncode = rc
                raise AssertionError("ostia run exited with %d during "
                                     "startup\n%s" % (rc, self.diagnostics()))
            if self.is_running():
                return self
            if time.monotonic() >= deadline:
                raise AssertionError("ostia run not up after %.0fs\n%s"
                                     % (timeout, self.diagnostics()))
            time.sleep(0.1)

    def stop(self, timeout=STOP_TIMEOUT, sig=signal.SIGTERM):
        """Send sig to the foreground master; return its exit code.

        The exit code is negative when a signal killed it (Popen style).
        Raises AssertionError (after killing its process group) if it does
        not exit within timeout seconds.
        """
        if self.proc is None:
            raise RuntimeError("stop(): no foreground master was started")
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            kids = self.child_pids(self.proc.pid)
            self._kill_group(self.proc.pid)
            for p in kids:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait(5)
            raise AssertionError("ostia run did not exit %.0fs after %s\n%s"
                                 % (timeout, signal.Signals(sig).name,
                                    self.diagnostics()))
        return self.returncode

    def start_daemon(self, timeout=START_TIMEOUT):
        """Run `ostia start`; check it succeeded and the master is up."""
        self.cli("start", check=True, timeout=timeout)
        wait_until(self.is_running, timeout, 0.1,
                   "`ostia status` to succeed after `ostia start`")
        self._daemon_pid = self.pid_of_master()
        return self

    def stop_daemon(self, timeout=STOP_TIMEOUT, check=True):
        """Run `ostia stop` and wait until the master is gone."""
        pid = self.pid_of_master() or self._daemon_pid
        r = self.cli("stop", check=check, timeout=timeout)
        if pid is not None:
            wait_until(lambda: not _alive(pid), timeout, 0.05,
                       "master pid %d to exit after `ostia stop`" % pid)
        self._daemon_pid = None
        return r

    def reload(self, check=True):
        """Run `ostia reload`."""
        return self.cli("reload", check=check)

    def pid_of_master(self):
        """Return the pid in QUEUE/pid/master.pid, or None."""
        text = _read_text(os.path.join(self.queue_dir, "pid", "master.pid"))
        try:
            return int(text.strip())
        except ValueError:
            return None

    def master_pid(self):
        """The running master: foreground process, else the pid file."""
        if self.proc is not None and self.proc.poll() is None:
            return self.proc.pid
        return self.pid_of_master()

    def child_pids(self, pid=None):
        """Return pids (sorted) whose parent is the master (or pid)."""
        pid = pid or self.master_pid()
        if pid is None:
            return []
        out = []
        for p in _all_pids():
            st = _proc_stat(p)
            if st is not None and st[0] == pid:
                out.append(p)
        return sorted(out)

    def _ours(self, pid):
        # A process of this instance: its command line names our CONFDIR.
        return self.confdir in _cmdline(pid)

    def _is_our_master(self, pid):
        # The pid file is ours, but the pid may have been reused: accept
        # it only if it runs our binary or names our CONFDIR.
        try:
            exe = os.path.realpath("/proc/%d/exe" % pid)
        except OSError:
            exe = ""
        return exe == os.path.realpath(self.binary) or self._ours(pid)

    def _kill_group(self, pgid):
        # Never our own group: a master that did not detach shares it.
        if pgid is None or pgid <= 1 or pgid == os.getpgrp():
            return
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _kill_tree(self, pid, pgid=None, grace=5.0):
        """SIGTERM pid; after grace seconds SIGKILL it, its process group
        and the children it had."""
        st = _proc_stat(pid)
        if pgid is None and st is not None:
            pgid = st[1]
        kids = self.child_pids(pid)
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            wait_until(lambda: not _alive(pid), grace, 0.05)
        except AssertionError:
            pass
        self._kill_group(pgid)
        for p in [pid, *kids]:
            try:
                os.kill(p, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def close(self, grace=5.0):
        """Stop everything this instance started; idempotent.

        The foreground master gets SIGTERM, then its process group gets
        SIGKILL; a daemon master from our pid file is treated alike; last,
        any process whose command line names our CONFDIR is killed.
        grace: seconds between SIGTERM and SIGKILL.
        """
        if self.proc is not None:
            if self.proc.poll() is None:
                self._kill_tree(self.proc.pid, self.proc.pid, grace)
            self._kill_group(self.proc.pid)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
            if self.returncode is None:
                self.returncode = self.proc.returncode
        for pid in {self.pid_of_master(), self._daemon_pid}:
            if pid is not None and pid != os.getpid() and _alive(pid) \
                    and self._is_our_master(pid):
                self._kill_tree(pid, None, grace)
        # Stragglers that left the group but still name our CONFDIR.
        for pid in _all_pids():
            if pid != os.getpid() and self._ours(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        self._daemon_pid = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- logs

    def log_text(self):
        """The whole maillog_file ("" when it does not exist yet)."""
        return _read_text(self.log_path)

    def log_mark(self):
        """Current log length; pass as start= to later waits."""
        return len(self.log_text())

    def wait_for_log(self, regex, timeout=10.0, start=0, flags=re.M):
        """Wait until regex matches the log at or after offset start.

        Returns the re.Match (offsets are absolute in log_text(); use
        match.end() as the next start).  Raises AssertionError with the
        log tail on timeout.
        """
        pattern = regex if isinstance(regex, re.Pattern) \
            else re.compile(regex, flags)
        deadline = time.monotonic() + timeout
        while True:
            m = pattern.search(self.log_text(), start)
            if m:
                return m
            if time.monotonic() >= deadline:
                raise AssertionError(
                    "log %s: no match for %r after offset %d within %.1fs\n%s"
                    % (self.log_path, pattern.pattern, start, timeout,
                       self.diagnostics()))
            time.sleep(0.05)

    def assert_not_in_log(self, regex, start=0, flags=re.M):
        """Assert regex does not match the log after start."""
        pattern = regex if isinstance(regex, re.Pattern) \
            else re.compile(regex, flags)
        m = pattern.search(self.log_text(), start)
        if m:
            raise AssertionError("unexpected log line: %r"
                                 % self.log_text()[m.start():m.end() + 200]
                                 .splitlines()[0])

    def diagnostics(self, lines=40):
        """Tails of the log and run.out plus process state, for errors."""
        state = "not started"
        if self.proc is not None:
            rc = self.proc.poll()
            state = ("pid %d running" % self.proc.pid if rc is None
                     else "exited with %d" % rc)
        return ("foreground master: %s\n--- %s (tail) ---\n%s\n"
                "--- %s (tail) ---\n%s"
                % (state, self.log_path, tail(self.log_text(), lines),
                   self.run_out, tail(_read_text(self.run_out), lines)))

    def smtp(self, name="smtp", host="127.0.0.1", timeout=5.0):
        """Connect to the service .ports[name]; return an SmtpClient."""
        return connect_smtp(host, self.ports[name], timeout)


def attach_strace(strace, pids, trace, calls):
    """Start strace on every thread of the processes pids (one output
    file per thread: trace.TID, with -ttt -T), tracing the system calls
    named in calls (a comma-separated list), until it is terminated.
    Skips the test when strace cannot attach."""
    errf = trace + ".err"
    args = [strace, "-f", "-ff", "-ttt", "-T", "-s", "256", "-o", trace,
            "-e", "trace=" + calls]
    for pid in pids:
        args += ["-p", str(pid)]
    with open(errf, "wb") as err:
        st = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_until(lambda: open(errf).read().count("attached") >= len(pids)
                   or st.poll() is not None, timeout=30,
                   what="strace to attach")
    except AssertionError:
        pass
    if st.poll() is not None or "attached" not in open(errf).read():
        st.kill()
        st.wait(30)
        pytest.skip("strace cannot attach: %s" % open(errf).read())
    return st
