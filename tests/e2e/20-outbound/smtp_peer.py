# SPDX-License-Identifier: MIT
"""A scripted SMTP server (RFC 5321) for the outbound scenarios
(tests/e2e/20-outbound): what Ostia's smtp delivery agent talks to when
the test needs to choose every reply and see every byte.

SmtpPeer(host="127.0.0.1", port=0, ...) listens at once (one thread per
connection) on host:port (port 0: a free one, see .port) and serves
until close().  Options:

  name          the name in the greeting and the EHLO reply
  capabilities  EHLO keywords (default: PIPELINING, SIZE 10240000,
                8BITMIME, ENHANCEDSTATUSCODES, DSN, SMTPUTF8); STARTTLS
                is added when tls is given, "AUTH PLAIN LOGIN" (or the
                mechanisms in auth_mechs) when auth is given
  tls           an ssl.SSLContext (server side) for STARTTLS
  auth          {user: password} accepted by AUTH PLAIN / LOGIN
  hold_mail_reply  seconds to hold the reply to MAIL FROM unless the
                client's DATA command has already arrived: a client that
                pipelines sends MAIL, RCPT and DATA before reading any
                reply (RFC 2920), so the record of what had arrived when
                the MAIL reply left shows whether it pipelined, however
                slow the machine is
  on_message    callable(txn) -> reply line, called after the final dot
                (the content-filter stand-in re-sends the message there)

Replies are scripted while the peer runs: rule(stage, reply, rcpt=None)
with stage "greeting", "ehlo", "xforward" (each XFORWARD command), "mail",
"rcpt" (per recipient, or for all when rcpt is None), "data" (the reply
to the DATA command) or "dot" (the reply after the message); the special reply CLOSE ("close") makes the
peer close the connection at that point, and at stage "body" it closes
after the first line of the message content (a connection lost
mid-DATA); STALL ("stall") makes it say nothing until the client
gives up (or 60 s, or close()), then close.  clear(stage, rcpt=None)
removes a rule.

Records (under .lock): .connections, .ehlo (names), .transactions, a
list of dicts {"mail": MAIL line, "xforward": the XFORWARD command lines
since the last MAIL, RSET or EHLO (answered 250, or 502 when the
capabilities do not list XFORWARD), "rcpts": [(address, RCPT line,
reply)], "data": message bytes or None, "reply": the final reply or
None, "before_mail_reply": the command lines that had arrived before the
reply to MAIL was sent, "tls": the TLS version or None, "auth": the user
name or None, "closed": True when the peer closed the connection itself
mid-way}; .clients (the client address of each connection),
.auth_attempts [(mechanism, user, ok)], .starttls (count),
.errors.  Helpers: delivered(rcpt) counts completed transactions that
included rcpt, attempts(rcpt) its RCPT commands, wait(predicate, what).

Standard library only (plus the harness's wait_until).
"""

import base64
import re
import socket
import threading
import time

from ostia_harness import wait_until

WAIT = 30.0
CLOSE = "close"
STALL = "stall"
DEFAULT_CAPS = ("PIPELINING", "SIZE 10240000", "8BITMIME",
                "ENHANCEDSTATUSCODES", "DSN", "SMTPUTF8")
MAX_LINE = 1 << 20


class _Closed(Exception):
    """The peer closes the connection (scripted) or the client left."""


class _Conn:
    """Line I/O on one socket (plain or TLS), with a visible buffer."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("read timed out")
        self.sock.settimeout(remaining)
        data = self.sock.recv(65536)
        if not data:
            raise _Closed("client closed the connection")
        self.buf += data
        if len(self.buf) > MAX_LINE * 4:
            raise _Closed("client sent too much without a line end")

    def readline(self, timeout=120.0):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            self._fill(deadline)
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def buffered_lines(self):
        """Complete command lines received but not yet handled."""
        return [l.rstrip(b"\r").decode("utf-8", errors="replace")
                for l in self.buf.split(b"\n")[:-1]]

    def wait_for_line(self, pattern, timeout):
        """Read (into the buffer) until a buffered line matches pattern or
        timeout seconds passed; never raises on the timeout."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern, re.I)
        while not any(rx.match(l) for l in self.buffered_lines()):
            try:
                self._fill(deadline)
            except socket.timeout:
                return

    def send(self, *lines):
        data = b"".join(l.encode("utf-8") + b"\r\n" for l in lines)
        self.sock.settimeout(60)
        self.sock.sendall(data)


class SmtpPeer:
    """See the module documentation."""

    def __init__(self, host="127.0.0.1", port=0, name="peer.test",
                 capabilities=DEFAULT_CAPS, tls=None, auth=None,
                 auth_mechs=("PLAIN", "LOGIN"), hold_mail_reply=0.0,
                 on_message=None):
        self.host = host
        self.name = name
        self.capabilities = list(capabilities)
        self.tls = tls
        self.auth = dict(auth) if auth else None
        self.auth_mechs = list(auth_mechs)
        self.hold_mail_reply = hold_mail_reply
        self.on_message = on_message
        self.lock = threading.Lock()
        self.rules = {}
        self.transactions = []
        self.connections = 0
        self.ehlo = []
        self.auth_attempts = []
        self.starttls = 0
        self.errors = []
        self.clients = []
        self._closing = False
        self._stop = threading.Event()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self._acceptor = threading.Thread(target=self._accept_loop,
                                          daemon=True)
        self._acceptor.start()

    @property
    def nexthop(self):
        """The transport_maps next hop "[host]:port" of this peer."""
        return "[%s]:%d" % (self.host, self.port)

    # -- script
    def rule(self, stage, reply, rcpt=None):
        if stage not in ("greeting", "ehlo", "xforward", "mail", "rcpt",
                         "data", "body", "dot"):
            raise ValueError("unknown stage %r" % stage)
        with self.lock:
            self.rules[(stage, rcpt.lower() if rcpt else None)] = reply

    def clear(self, stage=None, rcpt=None):
        """Remove one rule, or every rule when stage is None."""
        with self.lock:
            if stage is None:
                self.rules.clear()
            else:
                self.rules.pop((stage, rcpt.lower() if rcpt else None), None)

    def _rule(self, stage, rcpt=None):
        with self.lock:
            if rcpt is not None and (stage, rcpt.lower()) in self.rules:
                return self.rules[(stage, rcpt.lower())]
            return self.rules.get((stage, None))

    # -- records
    def attempts(self, rcpt):
        with self.lock:
            return sum(1 for t in self.transactions for a, _, _ in t["rcpts"]
                       if a.lower() == rcpt.lower())

    def completed(self):
        """Transactions that ended with a 2xx reply after the dot."""
        with self.lock:
            return [t for t in self.transactions
                    if t["reply"] and t["reply"].startswith("2")]

    def delivered(self, rcpt):
        """Completed transactions that included rcpt (accepted at RCPT)."""
        return sum(1 for t in self.completed()
                   for a, _, r in t["rcpts"]
                   if a.lower() == rcpt.lower() and r.startswith("2"))

    def delivered_data(self, rcpt):
        return [t["data"] for t in self.completed()
                for a, _, r in t["rcpts"]
                if a.lower() == rcpt.lower() and r.startswith("2")]

    def wait(self, predicate, what, timeout=WAIT, diag=None):
        """Wait until predicate(self); AssertionError naming what, with
        the transcript and diag() (e.g. Ostia's log) otherwise."""
        try:
            return wait_until(lambda: predicate(self), timeout, 0.05, what)
        except AssertionError as e:
            raise AssertionError("%s\n--- scripted SMTP peer %s ---\n%s\n%s"
                                 % (e, self.nexthop, self.describe(),
                                    diag() if diag else "")) from None

    def describe(self):
        with self.lock:
            out = ["connections=%d clients=%r ehlo=%r starttls=%d auth=%r "
                   "rules=%r errors=%r" % (
                       self.connections, self.clients, self.ehlo,
                       self.starttls, self.auth_attempts, self.rules,
                       self.errors)]
            for i, t in enumerate(self.transactions):
                out.append("#%d %s xforward=%r rcpts=%r data=%s reply=%r "
                           "tls=%r auth=%r closed=%r before_mail_reply=%r"
                           % (i, t["mail"], t["xforward"], t["rcpts"],
                               "none" if t["data"] is None
                               else "%d bytes" % len(t["data"]),
                               t["reply"], t["tls"], t["auth"],
                               t["closed"], t["before_mail_reply"]))
        return "\n".join(out)

    # -- server
    def _accept_loop(self):
        while not self._closing:
            try:
                conn, addr = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.clients.append(addr[0])
            threading.Thread(target=self._serve, args=(conn,),
                             daemon=True).start()

    def _serve(self, sock):
        c = _Conn(sock)
        try:
            self._session(c)
        except _Closed:
            pass
        except (OSError, ValueError) as e:
            with self.lock:
                self.errors.append(repr(e))
        finally:
            try:
                c.sock.close()
            except OSError:
                pass

    def _reply(self, c, stage, default, rcpt=None, txn=None):
        """Send the scripted reply of stage (or default); return it."""
        reply = self._rule(stage, rcpt) or default
        if reply == STALL:
            # Silence until the client closes, close() or 60 s.
            c.sock.settimeout(0.2)
            deadline = time.monotonic() + 60
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    if not c.sock.recv(65536):
                        break
                except socket.timeout:
                    continue
                except OSError:
                    break
            if txn is not None:
                with self.lock:
                    txn["closed"] = True
            raise _Closed("scripted stall at %s" % stage)
        if reply == CLOSE:
            if txn is not None:
                with self.lock:
                    txn["closed"] = True
            raise _Closed("scripted close at %s" % stage)
        c.send(reply)
        return reply

    def _caps(self, tls_on):
        caps = list(self.capabilities)
        if self.tls is not None and not tls_on:
            caps.append("STARTTLS")
        if self.auth is not None:
            caps.append("AUTH " + " ".join(self.auth_mechs))
        return caps

    def _check_auth(self, mech, user, password):
        ok = self.auth is not None and self.auth.get(user) == password
        with self.lock:
            self.auth_attempts.append((mech, user, ok))
        return ok

    def _do_auth(self, c, line):
        parts = line.split()
        mech = parts[1].upper() if len(parts) > 1 else ""
        if self.auth is None or mech not in self.auth_mechs:
            c.send("504 5.5.4 Unrecognized authentication type")
            return None
        if mech == "PLAIN":
            if len(parts) > 2:
                resp = parts[2]
            else:
                c.send("334 ")
                resp = c.readline().strip().decode("ascii", "replace")
            try:
                fields = base64.b64decode(resp, validate=True).split(b"\0")
                user = fields[1].decode("utf-8")
                password = fields[2].decode("utf-8")
            except (ValueError, IndexError):
                c.send("501 5.5.2 Cannot decode response")
                return None
        else:   # LOGIN
            try:
                if len(parts) > 2:
                    user = base64.b64decode(parts[2]).decode("utf-8")
                else:
                    c.send("334 VXNlcm5hbWU6")
                    user = base64.b64decode(c.readline().strip()).decode(
                        "utf-8")
                c.send("334 UGFzc3dvcmQ6")
                password = base64.b64decode(c.readline().strip()).decode(
                    "utf-8")
            except ValueError:
                c.send("501 5.5.2 Cannot decode response")
                return None
        if self._check_auth(mech, user, password):
            c.send("235 2.7.0 Authentication successful")
            return user
        c.send("535 5.7.8 Error: authentication failed")
        return None

    def _session(self, c):
        self._reply(c, "greeting", "220 %s ESMTP scripted peer" % self.name)
        txn = None
        tls_version = None
        user = None
        xforward = []
        xforward_offered = any(
            cap.split(" ", 1)[0].upper() == "XFORWARD"
            for cap in self.capabilities)
        while not self._closing:
            raw = c.readline()
            if len(raw) > MAX_LINE:
                c.send("500 5.5.2 Line too long")
                continue
            line = raw.rstrip(b"\r\n").decode("utf-8", errors="replace")
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                with self.lock:
                    self.ehlo.append(line[5:].strip())
                txn = None
                xforward = []
                if verb == "HELO":
                    self._reply(c, "ehlo", "250 %s" % self.name)
                    continue
                rule = self._rule("ehlo")
                if rule:
                    self._reply(c, "ehlo", rule)
                    continue
                caps = [self.name] + self._caps(tls_version is not None)
                c.send(*["250-" + x for x in caps[:-1]], "250 " + caps[-1])
            elif verb == "STARTTLS" and self.tls is not None \
                    and tls_version is None:
                c.send("220 2.0.0 Ready to start TLS")
                if c.buf:
                    with self.lock:
                        self.errors.append("cleartext after STARTTLS: %r"
                                           % c.buf)
                    raise _Closed("STARTTLS injection")
                c.sock.settimeout(30)
                c.sock = self.tls.wrap_socket(c.sock, server_side=True)
                tls_version = c.sock.version()
                with self.lock:
                    self.starttls += 1
                txn = None
            elif verb == "AUTH":
                if user is not None:
                    c.send("503 5.5.1 Already authenticated")
                    continue
                user = self._do_auth(c, line)
            elif verb == "XFORWARD":
                xforward.append(line)
                if xforward_offered:
                    self._reply(c, "xforward", "250 2.0.0 Ok")
                else:
                    c.send("502 5.5.2 Error: command not recognized")
            elif verb == "MAIL":
                txn = {"mail": line, "xforward": xforward,
                       "rcpts": [], "data": None,
                       "reply": None, "before_mail_reply": [],
                       "tls": tls_version, "auth": user, "closed": False}
                xforward = []
                with self.lock:
                    self.transactions.append(txn)
                if self.hold_mail_reply:
                    c.wait_for_line(r"DATA\s*$", self.hold_mail_reply)
                with self.lock:
                    txn["before_mail_reply"] = c.buffered_lines()
                self._reply(c, "mail", "250 2.1.0 Ok", txn=txn)
            elif verb == "RCPT":
                if txn is None:
                    c.send("503 5.5.1 Error: need MAIL command")
                    continue
                m = re.match(r"RCPT TO:\s*<([^>]*)>", line, re.I)
                addr = m.group(1) if m else line
                reply = self._reply(c, "rcpt", "250 2.1.5 Ok", rcpt=addr,
                                    txn=txn)
                with self.lock:
                    txn["rcpts"].append((addr, line, reply))
            elif verb == "DATA":
                if txn is None or not any(r.startswith("2")
                                          for _, _, r in txn["rcpts"]):
                    c.send("554 5.5.1 Error: no valid recipients")
                    continue
                reply = self._reply(c, "data",
                                    "354 End data with <CR><LF>.<CR><LF>",
                                    txn=txn)
                if not reply.startswith("3"):
                    txn = None
                    continue
                data = []
                while True:
                    l = c.readline()
                    if l in (b".\r\n", b".\n"):
                        break
                    if self._rule("body") == CLOSE:
                        with self.lock:
                            txn["closed"] = True
                            txn["data"] = b"".join(data) + l
                        raise _Closed("scripted close mid-DATA")
                    if l.startswith(b"."):
                        l = l[1:]
                    data.append(l)
                with self.lock:
                    txn["data"] = b"".join(data)
                default = "250 2.0.0 Ok: queued as SCRIPTED%d" % id(txn)
                if self.on_message is not None:
                    default = self.on_message(txn)
                reply = self._reply(c, "dot", default, txn=txn)
                with self.lock:
                    txn["reply"] = reply
                txn = None
            elif verb == "RSET":
                txn = None
                xforward = []
                c.send("250 2.0.0 Ok")
            elif verb == "NOOP":
                c.send("250 2.0.0 Ok")
            elif verb == "QUIT":
                c.send("221 2.0.0 Bye")
                return
            else:
                c.send("502 5.5.2 Error: command not recognized")

    def close(self):
        self._closing = True
        self._stop.set()
        try:
            self.sock.close()
        except OSError:
            pass
        self._acceptor.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
