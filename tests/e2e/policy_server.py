# SPDX-License-Identifier: MIT
"""A small policy server for check_policy_service tests (Postfix's SMTP
access policy delegation protocol, SMTPD_POLICY_README).

Protocol: the client sends "name=value" lines ending with an empty line;
the server answers "action=<access(5) action>" and an empty line, and
keeps the connection open for the next request.

Runs in the test process (one thread per connection) on

  .address   "inet:127.0.0.1:PORT" (port from ostia_harness.free_port())
             or "unix:/tmp/ostia-pol-XXXX/policy" (a socket of mode
             0666 in a world-traversable directory, so that smtpd,
             running as the unprivileged mail owner, can connect)

which is the text to put after check_policy_service.  unix_path=PATH
puts the socket at PATH instead (e.g. inside an Ostia instance's
directory).

Modes (what a request that no rule matched gets):

  "fixed"       always `action` (default "DUNNO"); "action" is another
                name for this mode
  "greylist"    like postgrey: a (client_address, sender, recipient)
                triplet seen for the first time gets `greylist_action`
                ("DEFER_IF_PERMIT Greylisted, try again later"); it
                passes (DUNNO, or a PREPEND X-Greylist header with
                prepend=True) once `delay` seconds have gone by since it
                was first seen AND it was deferred at least `pass_after`
                times (None: no such condition).  Tests use delay=0 (the
                second attempt passes) or pass_after=N to avoid sleeping.
                subnet=True keys IPv4 clients by their /24, as postgrey.
                Only protocol_state RCPT is greylisted; other states get
                DUNNO.
  "ratelimit"   like iRedAPD's throttling: per sender (sasl_username when
                set, else sender; "<>" for the null sender) at most
                `limit` recipients (unit="recipients", counted at RCPT)
                or messages (unit="messages": distinct instance values
                at RCPT) per `window` seconds; beyond that `over_action`
                ("REJECT rate limit exceeded"; iRedAPD can also defer:
                over_action="DEFER_IF_PERMIT rate limit exceeded").
                What was refused is not counted.  Other states: DUNNO.
  "hang"        reads requests and never answers (timeouts)
  "close"       closes the connection without answering (failures)
  "malformed"   answers something that is not a reply ("garbage")

rules: a list of (match, action) checked before the mode: match is a dict
of attribute -> value (all must be equal; a value may be a callable
taking the attribute value and returning a bool).  reply_delay: seconds
to wait before each answer.

Every request is recorded in memory (.requests()) and in a JSON lines
file (.log_path), one object per request: the attributes as sent (the
last value of a repeated name), and, under names no attribute can have
(they start with "_"), the connection number, the time, the raw
(name, value) pairs in order and the answer (None: none):

    {"request": "smtpd_access_policy", "protocol_state": "RCPT", ...,
     "_conn": 1, "_time": 1700000000.0,
     "_raw": [["request", "smtpd_access_policy"], ...],
     "_action": "DUNNO"}

Use:

    srv = PolicyServer.start(mode="greylist", delay=0)
    srv.address                     # for check_policy_service
    ... SMTP ...
    srv.requests()                  # list of dicts as above
    srv.connections                 # connections accepted so far
    srv.stop(); srv.start()         # outage: same address, same state
    srv.set(mode="fixed", action="REJECT no")   # change behaviour live
    srv.close()                     # stop for good, remove its directory

or the `policy_server` fixture (fixed DUNNO over TCP; closed after the
test).  Run as a program (python3 policy_server.py --help) it serves
until killed, for manual tests.

Standard library (and pytest for the fixture) only.
"""

import argparse
import atexit
import ipaddress
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time

try:
    import pytest
except ImportError:  # running as a program without pytest
    pytest = None

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

try:
    from ostia_harness import free_port
except ImportError:  # pragma: no cover - the harness is beside us
    def free_port(host="127.0.0.1"):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            return s.getsockname()[1]

# Bounds on what a client may send: a line, and a whole request.
LINE_MAX = 64 * 1024
REQUEST_MAX = 1024 * 1024
START_TIMEOUT = 10.0

MODES = ("fixed", "greylist", "ratelimit", "hang", "close", "malformed")
SETTINGS = ("mode", "action", "greylist_action", "delay", "pass_after",
            "prepend", "subnet", "limit", "window", "unit", "over_action",
            "rules", "reply_delay")

_LIVE = []


@atexit.register
def _close_leftovers():
    for srv in list(_LIVE):
        try:
            srv.close()
        except Exception:  # best effort at exit
            pass


class ProtocolError(Exception):
    """The client broke the protocol."""


def parse_request(lines):
    """(raw pairs, attrs dict) of a request's lines (without the empty
    line).  A line without "=" is a protocol error."""
    raw = []
    for line in lines:
        if "=" not in line:
            raise ProtocolError("line without '=': %r" % line[:80])
        name, value = line.split("=", 1)
        raw.append([name, value])
    return raw, {n: v for n, v in raw}


class PolicyServer:
    """A policy server in this process.  See the module docstring."""

    def __init__(self, address=None, family="inet", mode="fixed",
                 log_path=None, unix_path=None, action="DUNNO",
                 greylist_action="DEFER_IF_PERMIT Greylisted, try again "
                 "later", delay=1.0, pass_after=None, prepend=False,
                 subnet=False, limit=10, window=60.0, unit="recipients",
                 over_action="REJECT rate limit exceeded", rules=(),
                 reply_delay=0.0):
        self.base = tempfile.mkdtemp(prefix="ostia-pol-", dir="/tmp")
        os.chmod(self.base, 0o755)
        if address is None and unix_path is not None:
            address = "unix:" + unix_path
        if address is None:
            if family == "unix":
                address = "unix:" + os.path.join(self.base, "policy")
            elif family == "inet":
                address = "inet:127.0.0.1:%d" % free_port()
            else:
                raise ValueError("family must be inet or unix")
        self.address = address
        self.log_path = log_path or os.path.join(self.base,
                                                 "requests.jsonl")
        self._lock = threading.RLock()
        self._records = []
        self._lsock = None
        self._accept_thread = None
        self._conns = set()
        self._stopping = threading.Event()
        self.connections = 0
        self.running = False
        self.closed = False
        # State of the policies (kept across stop/start).
        self._greylist = {}     # triplet -> [first_seen, deferred count]
        self._rate = {}         # sender -> list of (time, instance)
        self.mode = "fixed"
        self.rules = []
        self.set(mode=mode, action=action, greylist_action=greylist_action,
                 delay=delay, pass_after=pass_after, prepend=prepend,
                 subnet=subnet, limit=limit, window=window, unit=unit,
                 over_action=over_action, rules=rules,
                 reply_delay=reply_delay)
        _LIVE.append(self)      # closed at exit if the test forgot

    # -- configuration
    def set(self, **settings):
        """Change the mode or settings, also while running."""
        with self._lock:
            for name, value in settings.items():
                if name == "mode" and value == "action":
                    value = "fixed"     # another name for it
                if name == "mode" and value not in MODES:
                    raise ValueError("unknown mode %r (known: %s)"
                                     % (value, ", ".join(MODES)))
                if name == "unit" and value not in ("recipients",
                                                    "messages"):
                    raise ValueError("unit must be recipients or messages")
                if name not in SETTINGS:
                    raise ValueError("unknown setting %r (known: %s)"
                                     % (name, ", ".join(SETTINGS)))
                if name == "rules":
                    value = list(value)
                setattr(self, name, value)
        return self

    def reset_state(self):
        """Forget greylisting triplets and rate counters."""
        with self._lock:
            self._greylist.clear()
            self._rate.clear()

    # -- address
    @property
    def is_unix(self):
        return self.address.startswith("unix:")

    @property
    def unix_path(self):
        return self.address[5:] if self.is_unix else None

    @property
    def inet_address(self):
        """(host, port) of an inet: address."""
        if self.is_unix:
            return None
        hostport = self.address[5:]
        host, port = hostport.rsplit(":", 1)
        return host.strip("[]"), int(port)

    # -- life cycle
    @classmethod
    def _create(cls, **kwargs):
        srv = cls(**kwargs)
        try:
            srv._restart()
        except BaseException:
            srv.close()
            raise
        return srv

    def _listen(self):
        if self.is_unix:
            path = self.unix_path
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(path)
            os.chmod(path, 0o666)
        else:
            host, port = self.inet_address
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
        s.listen(128)
        return s

    def _restart(self):
        if self.closed:
            raise RuntimeError("policy server: closed")
        if self.running:
            return self
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                self._lsock = self._listen()
                break
            except OSError:
                # The port of a stopped server may linger briefly.
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)
        self._stopping.clear()
        self.running = True
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name="policy-accept", daemon=True)
        self._accept_thread.start()
        return self

    def stop(self):
        """Stop serving: close the listener and every connection (the
        client sees EOF).  start() serves again on the same address with
        the same state."""
        if not self.running:
            return
        self.running = False
        self._stopping.set()
        lsock, self._lsock = self._lsock, None
        try:
            lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        lsock.close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.close()
            except OSError:
                pass
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
            self._accept_thread = None
        if self.is_unix:
            try:
                os.unlink(self.unix_path)
            except OSError:
                pass

    def restart(self):
        self.stop()
        return self._restart()

    def close(self):
        """Stop for good and remove the directory (unless OSTIA_E2E_KEEP)."""
        if self.closed:
            return
        try:
            self.stop()
        finally:
            self.closed = True
            if self in _LIVE:
                _LIVE.remove(self)
            if not os.environ.get("OSTIA_E2E_KEEP"):
                shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- inspection
    def requests(self):
        """Every request so far (dicts: the attributes, _conn, _time,
        _raw, _action)."""
        with self._lock:
            return [dict(r) for r in self._records]

    def requests_from_log(self):
        """The same, read back from the JSON lines file."""
        out = []
        try:
            with open(self.log_path, "r", encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        out.append(json.loads(line))
        except FileNotFoundError:
            pass
        return out

    def wait_requests(self, n, timeout=10.0):
        """Wait until at least n requests arrived; return them."""
        deadline = time.monotonic() + timeout
        while True:
            reqs = self.requests()
            if len(reqs) >= n:
                return reqs
            if time.monotonic() >= deadline:
                raise AssertionError("policy server: %d request(s) after "
                                     "%.0fs, expected %d"
                                     % (len(reqs), timeout, n))
            time.sleep(0.02)

    # -- serving
    def _accept_loop(self):
        lsock = self._lsock
        while not self._stopping.is_set():
            try:
                conn, _ = lsock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                number = self.connections
                self._conns.add(conn)
            threading.Thread(target=self._serve, args=(conn, number),
                             name="policy-conn-%d" % number,
                             daemon=True).start()

    def _serve(self, conn, number):
        buf = b""
        lines = []
        size = 0
        try:
            while not self._stopping.is_set():
                while b"\n" not in buf:
                    if len(buf) > LINE_MAX:
                        raise ProtocolError("line longer than %d bytes"
                                            % LINE_MAX)
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                raw_line, buf = buf.split(b"\n", 1)
                size += len(raw_line) + 1
                if size > REQUEST_MAX:
                    raise ProtocolError("request longer than %d bytes"
                                        % REQUEST_MAX)
                line = raw_line.decode("utf-8", errors="surrogateescape")
                if line != "":
                    lines.append(line)
                    continue
                raw, attrs = parse_request(lines)
                lines = []
                size = 0
                reply, close = self._answer(attrs)
                self._record(number, raw, attrs, reply)
                if close:
                    return
                if reply is None:
                    continue  # hang: keep reading, never answer
                if self.reply_delay:
                    time.sleep(self.reply_delay)
                conn.sendall(reply.encode("utf-8", errors="surrogateescape"))
        except (OSError, ProtocolError, UnicodeError):
            return
        finally:
            with self._lock:
                self._conns.discard(conn)
            try:
                conn.close()
            except OSError:
                pass

    def _record(self, number, raw, attrs, reply):
        action = None
        if reply is not None and reply.startswith("action="):
            action = reply[len("action="):].rstrip("\n")
        rec = dict(attrs)
        rec.update({"_conn": number, "_time": time.time(), "_raw": raw,
                    "_action": action})
        with self._lock:
            self._records.append(rec)
            with open(self.log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")

    @staticmethod
    def _matches(match, attrs):
        for name, want in match.items():
            have = attrs.get(name)
            if callable(want):
                if have is None or not want(have):
                    return False
            elif have != want:
                return False
        return True

    def _answer(self, attrs):
        """(reply text or None for none, close the connection?)."""
        with self._lock:
            for match, action in self.rules:
                if self._matches(match, attrs):
                    return "action=%s\n\n" % action, False
            mode = self.mode
            if mode == "hang":
                return None, False
            if mode == "close":
                return None, True
            if mode == "malformed":
                return "garbage\n\n", False
            if mode == "greylist":
                action = self._greylist_action(attrs)
            elif mode == "ratelimit":
                action = self._ratelimit_action(attrs)
            else:
                action = self.action
            return "action=%s\n\n" % action, False

    def _client_key(self, addr):
        if self.subnet:
            try:
                ip = ipaddress.ip_address(addr)
                if ip.version == 4:
                    return str(ipaddress.ip_network(addr + "/24",
                                                    strict=False))
            except ValueError:
                pass
        return addr

    def _greylist_action(self, attrs):
        if attrs.get("protocol_state", "RCPT").upper() != "RCPT":
            return "DUNNO"
        key = (self._client_key(attrs.get("client_address", "")),
               attrs.get("sender", "").lower(),
               attrs.get("recipient", "").lower())
        now = time.monotonic()
        entry = self._greylist.get(key)
        if entry is None:
            self._greylist[key] = [now, 1]
            return self.greylist_action
        first, deferred = entry
        waited = now - first
        if (self.delay is None or waited >= self.delay) and \
                (self.pass_after is None or deferred >= self.pass_after):
            if self.prepend:
                return ("PREPEND X-Greylist: delayed %d seconds by "
                        "ostia-test-policy" % int(waited))
            return "DUNNO"
        entry[1] += 1
        return self.greylist_action

    def _ratelimit_action(self, attrs):
        if attrs.get("protocol_state", "RCPT").upper() != "RCPT":
            return "DUNNO"
        who = attrs.get("sasl_username") or attrs.get("sender") or "<>"
        who = who.lower()
        now = time.monotonic()
        seen = [e for e in self._rate.get(who, [])
                if now - e[0] < self.window]
        instance = attrs.get("instance", "")
        if self.unit == "messages":
            used = len({e[1] for e in seen})
            new = all(e[1] != instance for e in seen)
            over = new and used >= self.limit
        else:
            over = len(seen) >= self.limit
        if over:
            self._rate[who] = seen
            return self.over_action
        seen.append((now, instance))
        self._rate[who] = seen
        return "DUNNO"


class _hybridmethod:
    """start() on the class makes and starts a new server; on an
    instance, starts a stopped one again."""

    def __init__(self, cls_func, inst_func):
        self.cls_func = cls_func
        self.inst_func = inst_func

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self.cls_func.__get__(objtype, type(objtype))
        return self.inst_func.__get__(obj, objtype)


PolicyServer.start = _hybridmethod(PolicyServer._create.__func__,
                                   PolicyServer._restart)


# ---------------------------------------------------------------- client

class PolicyClient:
    """A blocking client of the protocol, to check the server (or any
    policy server) independently of Ostia.  address: "inet:host:port",
    "unix:/path", a path, or (host, port)."""

    def __init__(self, address, timeout=10.0):
        if isinstance(address, str) and address.startswith("inet:"):
            host, port = address[5:].rsplit(":", 1)
            address = (host.strip("[]"), int(port))
        elif isinstance(address, str) and address.startswith("unix:"):
            address = address[5:]
        if isinstance(address, str):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            family = socket.AF_INET6 if ":" in address[0] else \
                socket.AF_INET
            self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(address)
        except OSError:
            self.sock.close()
            raise
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def ask(self, **attrs):
        """Send one request (request=smtpd_access_policy unless given);
        return the action text, or None when the server closed the
        connection without answering."""
        attrs.setdefault("request", "smtpd_access_policy")
        text = ""
        for name, value in attrs.items():
            value = str(value)
            if "\n" in value or "=" in name:
                raise ValueError("attribute %s cannot be sent" % name)
            text += "%s=%s\n" % (name, value)
        self.sock.sendall((text + "\n").encode("utf-8"))
        reply = {}
        while True:
            while b"\n" not in self.buf:
                data = self.sock.recv(65536)
                if not data:
                    return None
                self.buf += data
            line, self.buf = self.buf.split(b"\n", 1)
            line = line.decode("utf-8", errors="replace")
            if line == "":
                if "action" not in reply:
                    raise ProtocolError("reply without action=")
                return reply["action"]
            if "=" not in line:
                raise ProtocolError("malformed reply line %r" % line)
            name, value = line.split("=", 1)
            reply[name] = value


# ---------------------------------------------------------------- pytest

if pytest is not None:
    @pytest.fixture
    def policy_server():
        """A started PolicyServer (fixed DUNNO, TCP); closed afterwards."""
        srv = PolicyServer.start()
        try:
            yield srv
        finally:
            srv.close()


# ---------------------------------------------------------------- program

def main(argv=None):
    p = argparse.ArgumentParser(
        description="A policy server for Ostia's check_policy_service "
        "tests (serves until killed).")
    p.add_argument("--listen", default=None,
                   help="inet:host:port or unix:/path (default: a free "
                   "port on 127.0.0.1)")
    p.add_argument("--mode", default="fixed", choices=MODES)
    p.add_argument("--action", default="DUNNO")
    p.add_argument("--delay", type=float, default=1.0)
    p.add_argument("--pass-after", type=int, default=None)
    p.add_argument("--prepend", action="store_true")
    p.add_argument("--subnet", action="store_true")
    p.add_argument("--limit", type=int, default=10)
    p.add_argument("--window", type=float, default=60.0)
    p.add_argument("--unit", default="recipients",
                   choices=("recipients", "messages"))
    p.add_argument("--over-action", default="REJECT rate limit exceeded")
    p.add_argument("--log", default=None, help="JSON lines file")
    a = p.parse_args(argv)
    srv = PolicyServer.start(
        address=a.listen, mode=a.mode, log_path=a.log, action=a.action,
        delay=a.delay, pass_after=a.pass_after, prepend=a.prepend,
        subnet=a.subnet, limit=a.limit, window=a.window, unit=a.unit,
        over_action=a.over_action)
    print("listening on %s; requests in %s" % (srv.address, srv.log_path),
          flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        srv.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
