# SPDX-License-Identifier: MIT
"""Helpers of the delivery scenarios (tests/e2e/15-delivery).

- Delivery: an Ostia instance (from the ostia_factory fixture) set up to
  deliver: virtual Maildirs for VDOMAIN under a virtual_mailbox_base
  owned by the test user (virtual_uid_maps/virtual_gid_maps =
  static:UID/GID), transport_maps routes (lmtp, pipe, discard, error),
  the agent services in master.cf (virtual, lmtp, discard, error, retry,
  and the seed's `dovecot` pipe service running Dovecot's LDA when a
  DovecotMail is given), short retry times.  Plus: sending with smtplib
  (DSN parameters per recipient), Maildir inspection, bounded waits that
  fail with the log, the queue listing and the Maildirs' state.
- LmtpServer: a scripted LMTP server in Python (TCP or UNIX socket) whose
  replies per recipient, at RCPT or after DATA, the test changes while
  it runs (rule()/clear()); it counts attempts and deliveries per
  recipient and can stall before its final DATA replies.
- Dsn: an RFC 3464 delivery status notification parsed back
  (multipart/report, message/delivery-status fields per message and per
  recipient, the returned message or headers).
- parse_queue(): the `ostia queue` listing (mailq format) parsed.

Standard library and pytest only.  No timing assertions: every wait is
a bounded poll for a condition.
"""

import email
import email.policy
import email.utils
import os
import pwd
import re
import secrets
import smtplib
import socket
import threading
import time

from ostia_harness import tail, wait_until

# How long to wait for anything that should happen "soon" (a delivery, a
# deferral, a bounce).  Generous: a loaded CI machine must not fail.
WAIT = 30.0

VDOMAIN = "vmail.test"          # virtual_mailbox_domains
LMTP_DOMAIN = "lmtp.test"       # routed to an LMTP server (transport_maps)
PIPE_DOMAIN = "pipe.test"       # routed to the `dovecot` pipe service
DISCARD_DOMAIN = "discard.test"
# Routed to "bouncer", a service running the error command: smtpd
# refuses at RCPT a recipient whose transport is named error or retry
# (as Postfix does), so the DSN tests use another name for it.  The
# services named error and retry are reached through virtual aliases
# (expanded after smtpd): see ERROR_ALIAS / RETRY_ALIAS.
ERROR_DOMAIN = "error.test"
ERROR_TEXT = "mailbox disabled by the test"
ERROR_ALIAS = "disabled@vmail.test"     # -> x@errsvc.test, error:TEXT
RETRY_ALIAS = "later@vmail.test"        # -> x@retrysvc.test, retry:TEXT
RETRY_TEXT = "the test says try later"
SENDER = "sender@" + VDOMAIN    # a local mailbox: its bounces land there
DEFAULT_USERS = ("alice", "bob", "carol", "sender", "postmaster")

QUEUE_ID = r"[0-9A-HJKMNP-TV-Z]{16}"
QUEUE_ID_RE = re.compile(r"\A%s\Z" % QUEUE_ID)
QUEUED_RE = re.compile(r"queued as (%s)" % QUEUE_ID)
# Any Ostia process's log line prefix.
PROC = r"ostia/[\w.-]+\[\d+\]: "
LDA_PATH = "/usr/lib/dovecot/dovecot-lda"


def token():
    return "tok" + secrets.token_hex(10)


def user_ids(user):
    """(uid, gid) of user."""
    pw = pwd.getpwnam(user)
    return pw.pw_uid, pw.pw_gid


# ---------------------------------------------------------------- messages

def make_message(tok, sender=SENDER, to="someone@" + VDOMAIN, subject=None,
                 body=None, eightbit=False, extra_headers=()):
    """A small RFC 5322 message (CRLF) whose Subject and body name tok.

    eightbit: the body holds UTF-8 (send with BODY=8BITMIME)."""
    lines = ["From: <%s>" % (sender or "mailer-daemon@" + VDOMAIN),
             "To: <%s>" % to,
             "Subject: %s" % (subject or "delivery test " + tok),
             "Message-ID: <%s@client.test>" % tok,
             "Date: %s" % email.utils.formatdate(localtime=False),
             *extra_headers,
             "MIME-Version: 1.0",
             "Content-Type: text/plain; charset=utf-8",
             "Content-Transfer-Encoding: %s" % ("8bit" if eightbit
                                                else "7bit"),
             ""]
    if body is None:
        body = ["Hello, this is %s." % tok,
                "A second line of %s." % tok]
        if eightbit:
            body.append("Gr\u00fc\u00dfe aus K\u00f6ln, \u00e7a va? %s" % tok)
    lines += body
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


# ---------------------------------------------------------------- Maildir

def maildir_files(maildir):
    """Message files in maildir's new/ and cur/ (sorted paths)."""
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        try:
            out += [os.path.join(d, n) for n in os.listdir(d)
                    if not n.startswith(".")]
        except FileNotFoundError:
            pass
    return sorted(out)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def maildir_size_field(path):
    """The ,S=<size> of a Maildir++ file name, or None."""
    m = re.search(r",S=(\d+)(?:[,:]|$)", os.path.basename(path))
    return int(m.group(1)) if m else None


def header_block(data):
    """The header lines (bytes, unfolded) of a message with LF or CRLF."""
    end = re.search(rb"\r?\n\r?\n", data)
    head = data[:end.start()] if end else data
    head = re.sub(rb"\r?\n[ \t]+", b" ", head)
    return [l.rstrip(b"\r") for l in head.split(b"\n")]


# ---------------------------------------------------------------- DSN

def _norm(value):
    return re.sub(r"\s+", " ", str(value)).strip()


class Dsn:
    """A delivery status notification, parsed back (RFC 3462/3464).

    raw: the bytes of the Maildir file (Return-Path:/Delivered-To: of
    the delivery first).  Attributes:
      .msg            email.message.Message (compat32)
      .report_type    the multipart/report's report-type parameter
      .parts          its sub-parts
      .text           the human readable first part (str)
      .per_message    {field (lower case): value} of the status part's
                      first block
      .per_recipient  [{field: value}, ...], one per recipient block
      .returned_type  content type of the third part, or None
      .returned       its content (bytes), or None
    Structure problems are collected in .problems (list of str) instead
    of raising, so a test can show them all at once.
    """

    def __init__(self, raw, path=None):
        self.raw = raw
        self.path = path
        self.problems = []
        self.msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        self.report_type = None
        self.parts = []
        self.text = ""
        self.per_message = {}
        self.per_recipient = []
        self.returned_type = None
        self.returned = None
        self._parse()

    def _parse(self):
        m = self.msg
        if m.get_content_type() != "multipart/report":
            self.problems.append("Content-Type is %s, not multipart/report"
                                 % m.get_content_type())
            return
        self.report_type = m.get_param("report-type")
        if (self.report_type or "").lower() != "delivery-status":
            self.problems.append("report-type=%r, not delivery-status"
                                 % self.report_type)
        self.parts = m.get_payload()
        if not isinstance(self.parts, list) or len(self.parts) < 2:
            self.problems.append("multipart/report with %s parts"
                                 % (len(self.parts)
                                    if isinstance(self.parts, list)
                                    else "no"))
            return
        first, status = self.parts[0], self.parts[1]
        if first.get_content_type() != "text/plain":
            self.problems.append("first part is %s, not text/plain"
                                 % first.get_content_type())
        self.text = (first.get_payload(decode=True) or b"").decode(
            "utf-8", errors="replace")
        if status.get_content_type() != "message/delivery-status":
            self.problems.append("second part is %s, not "
                                 "message/delivery-status"
                                 % status.get_content_type())
        else:
            self._parse_status(status)
        if len(self.parts) >= 3:
            third = self.parts[2]
            self.returned_type = third.get_content_type()
            if self.returned_type == "message/rfc822":
                inner = third.get_payload()
                if isinstance(inner, list) and inner:
                    self.returned = inner[0].as_bytes()
                else:
                    self.returned = third.get_payload(decode=True)
            else:
                self.returned = third.get_payload(decode=True)
        if len(self.parts) > 3:
            self.problems.append("%d parts (at most 3 expected)"
                                 % len(self.parts))

    def _parse_status(self, part):
        # compat32 parses message/delivery-status into one Message per
        # block (per-message fields first).
        blocks = part.get_payload()
        if not isinstance(blocks, list) or not blocks:
            self.problems.append("empty message/delivery-status part")
            return

        def fields(block):
            return {k.lower(): _norm(v) for k, v in block.items()}
        self.per_message = fields(blocks[0])
        self.per_recipient = [fields(b) for b in blocks[1:] if b.keys()]
        if not self.per_recipient:
            self.problems.append("no per-recipient block")

    def recipient(self, address):
        """The per-recipient block whose Final-Recipient is address."""
        for r in self.per_recipient:
            fr = r.get("final-recipient", "")
            if fr.split(";", 1)[-1].strip().lower() == address.lower():
                return r
        raise AssertionError("no per-recipient block for %s in the DSN:\n%s"
                             % (address, self.describe()))

    def describe(self):
        return ("DSN %s\nheaders: %r\nper-message: %r\nper-recipient: %r\n"
                "returned: %s\nproblems: %r\n--- raw (head) ---\n%s"
                % (self.path, self.msg.items(), self.per_message,
                   self.per_recipient, self.returned_type, self.problems,
                   self.raw[:3000].decode("utf-8", errors="replace")))


def _field_addr(value):
    """"rfc822; a@b" -> ("rfc822", "a@b")."""
    t, _, a = value.partition(";")
    return t.strip().lower(), a.strip()


def check_dsn_structure(dsn):
    """Assert the parts every DSN of ours must have (RFC 3464)."""
    assert not dsn.problems, dsn.describe()
    pm = dsn.per_message
    assert pm.get("reporting-mta", "").lower().startswith("dns;"), \
        "Reporting-MTA missing or not 'dns; NAME':\n" + dsn.describe()
    arrival = pm.get("arrival-date")
    assert arrival, "Arrival-Date missing:\n" + dsn.describe()
    assert email.utils.parsedate_tz(arrival) is not None, \
        "Arrival-Date %r is not an RFC 5322 date:\n%s" % (arrival,
                                                         dsn.describe())
    for r in dsn.per_recipient:
        t, a = _field_addr(r.get("final-recipient", ""))
        assert t and a, "Final-Recipient missing or malformed:\n" \
            + dsn.describe()
        assert r.get("action"), "Action missing:\n" + dsn.describe()
        assert re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", r.get("status", "")), \
            "Status missing or not X.Y.Z:\n" + dsn.describe()


# ---------------------------------------------------------------- queue list

QLINE_RE = re.compile(r"^(?P<id>%s)(?P<flag>[*!]?)\s+(?P<size>\d+)\s+"
                      r"(?P<date>\S.*?)\s+(?P<sender>\S+)\s*$" % QUEUE_ID)
QFOOT_RE = re.compile(r"^-- (\d+) Kbytes in (\d+) Requests?\.\s*$")


class QueueEntry:
    def __init__(self, m):
        self.id = m.group("id")
        self.flag = m.group("flag")
        self.size = int(m.group("size"))
        self.date = m.group("date")
        self.sender = m.group("sender")
        self.reasons = []
        self.rcpts = []

    @property
    def reason(self):
        return " ".join(self.reasons)

    def __repr__(self):
        return ("QueueEntry(%s%s size=%d sender=%s reason=%r rcpts=%r)"
                % (self.id, self.flag, self.size, self.sender, self.reason,
                   self.rcpts))


def parse_queue(text):
    """Parse `ostia queue` output.  Returns (entries, footer) where
    entries maps ID -> QueueEntry and footer is ("empty",) or
    ("total", kbytes, requests).  AssertionError on a line that fits
    nowhere."""
    entries = {}
    footer = None
    cur = None
    in_reason = False
    for line in text.splitlines():
        s = line.strip()
        if not s:
            in_reason = False
            continue
        if s == "Mail queue is empty":
            footer = ("empty",)
            continue
        m = QFOOT_RE.match(s)
        if m:
            footer = ("total", int(m.group(1)), int(m.group(2)))
            continue
        m = QLINE_RE.match(line)
        if m:
            cur = QueueEntry(m)
            entries[cur.id] = cur
            in_reason = False
            continue
        if s.startswith("-"):           # a column header, as mailq's
            continue
        if cur is None:
            raise AssertionError("queue listing: line %r before any entry:"
                                 "\n%s" % (line, text))
        if s.startswith("(") or in_reason:
            cur.reasons.append(s)
            in_reason = not s.endswith(")")
            continue
        if line[:1].isspace():
            cur.rcpts.append(s)
            continue
        raise AssertionError("queue listing: unexpected line %r:\n%s"
                             % (line, text))
    return entries, footer


# ---------------------------------------------------------------- LMTP

class LmtpServer:
    """A scripted LMTP server (RFC 2033) on 127.0.0.1:.port, or on a UNIX
    socket (unix_path, mode 0666), one thread per connection.

    Replies per recipient: rule(rcpt, reply, stage) makes RCPT TO
    (stage "rcpt") or the per-recipient reply after DATA (stage "data")
    of rcpt answer `reply` (e.g. "451 4.2.0 try again later") until
    clear(rcpt) or another rule; rcpt None is the rule for everybody
    without their own.  Default: accept and deliver.
    stall(): replies after the DATA dot wait until unstall() (bounded
    by 60 s), so the message stays "being delivered" meanwhile.

    Records (under .lock): .transactions, a list of dicts
      {"mail": "MAIL FROM line", "rcpts": [(addr, reply)],
       "data": bytes or None, "results": [(addr, reply)]}
    and helpers attempts(rcpt) (RCPT TO seen), delivered(rcpt) (2xx
    after DATA), connections, lhlo (names given).
    """

    def __init__(self, unix_path=None, capabilities=("PIPELINING",
                 "ENHANCEDSTATUSCODES", "8BITMIME", "SIZE 0"),
                 greeting="220 scripted.test LMTP ready"):
        self.capabilities = list(capabilities)
        self.greeting = greeting
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.rules = {}
        self.transactions = []
        self.connections = 0
        self.lhlo = []
        self.errors = []
        self._stall = None
        self._closing = False
        self._threads = []
        self.unix_path = unix_path
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                os.unlink(unix_path)
            except FileNotFoundError:
                pass
            self.sock.bind(unix_path)
            os.chmod(unix_path, 0o666)
            self.port = None
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("127.0.0.1", 0))
            self.port = self.sock.getsockname()[1]
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self._acceptor = threading.Thread(target=self._accept_loop,
                                          daemon=True)
        self._acceptor.start()

    @property
    def nexthop(self):
        """The transport_maps next hop naming this server."""
        if self.unix_path:
            return "unix:" + self.unix_path
        return "inet:127.0.0.1:%d" % self.port

    # -- script
    def rule(self, rcpt, reply, stage="rcpt"):
        if stage not in ("rcpt", "data"):
            raise ValueError("stage must be rcpt or data")
        with self.lock:
            self.rules[rcpt.lower() if rcpt else None] = (stage, reply)

    def clear(self, rcpt=None):
        with self.lock:
            self.rules.pop(rcpt.lower() if rcpt else None, None)

    def stall(self):
        with self.lock:
            self._stall = threading.Event()

    def unstall(self):
        with self.lock:
            ev, self._stall = self._stall, None
        if ev is not None:
            ev.set()

    def _rule_for(self, rcpt):
        with self.lock:
            return self.rules.get(rcpt.lower(), self.rules.get(None))

    # -- records
    def attempts(self, rcpt):
        with self.lock:
            return sum(1 for t in self.transactions for a, _ in t["rcpts"]
                       if a.lower() == rcpt.lower())

    def delivered(self, rcpt):
        with self.lock:
            return sum(1 for t in self.transactions for a, r in t["results"]
                       if a.lower() == rcpt.lower() and r.startswith("2"))

    def delivered_data(self, rcpt):
        """The message bytes of each successful delivery to rcpt."""
        with self.lock:
            return [t["data"] for t in self.transactions
                    for a, r in t["results"]
                    if a.lower() == rcpt.lower() and r.startswith("2")]

    def wait(self, predicate, what, timeout=WAIT, diag=None):
        """Wait until predicate(self) is true; AssertionError naming what,
        with the transcript and diag() (e.g. Ostia's log) otherwise."""
        try:
            return wait_until(lambda: predicate(self), timeout, 0.05, what)
        except AssertionError as e:
            raise AssertionError("%s\n--- LMTP server ---\n%s\n%s"
                                 % (e, self.describe(),
                                    diag() if diag else "")) from None

    def describe(self):
        with self.lock:
            out = ["connections=%d lhlo=%r rules=%r errors=%r"
                   % (self.connections, self.lhlo, self.rules, self.errors)]
            for i, t in enumerate(self.transactions):
                out.append("#%d %s rcpts=%r results=%r data=%s" % (
                    i, t["mail"], t["rcpts"], t["results"],
                    "none" if t["data"] is None
                    else "%d bytes" % len(t["data"])))
        return "\n".join(out)

    # -- server
    def _accept_loop(self):
        while not self._closing:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.connections += 1
            t = threading.Thread(target=self._serve, args=(conn,),
                                 daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, conn):
        conn.settimeout(120)
        f = conn.makefile("rwb")
        try:
            self._session(f)
        except (OSError, ValueError) as e:
            with self.lock:
                self.errors.append(repr(e))
        finally:
            try:
                f.close()
                conn.close()
            except OSError:
                pass

    @staticmethod
    def _send(f, *lines):
        f.write(b"".join(l.encode("utf-8") + b"\r\n" for l in lines))
        f.flush()

    def _session(self, f):
        self._send(f, self.greeting)
        txn = None
        while not self._closing:
            raw = f.readline(65536)
            if not raw:
                return
            line = raw.rstrip(b"\r\n").decode("utf-8", errors="replace")
            verb = line.split(" ", 1)[0].upper()
            if verb == "LHLO":
                with self.lock:
                    self.lhlo.append(line[5:].strip())
                caps = ["scripted.test"] + self.capabilities
                self._send(f, *["250-" + c for c in caps[:-1]],
                           "250 " + caps[-1])
            elif verb == "MAIL":
                txn = {"mail": line, "rcpts": [], "accepted": [],
                       "data": None, "results": []}
                with self.lock:
                    self.transactions.append(txn)
                self._send(f, "250 2.1.0 Ok")
            elif verb == "RCPT":
                if txn is None:
                    self._send(f, "503 5.5.1 MAIL first")
                    continue
                m = re.match(r"RCPT TO:\s*<([^>]*)>", line, re.I)
                addr = m.group(1) if m else line
                rule = self._rule_for(addr)
                reply = rule[1] if rule and rule[0] == "rcpt" \
                    else "250 2.1.5 Ok"
                with self.lock:
                    txn["rcpts"].append((addr, reply))
                    self.changed.notify_all()
                if reply.startswith("2"):
                    txn["accepted"].append(addr)
                self._send(f, reply)
            elif verb == "DATA":
                if txn is None or not txn["accepted"]:
                    self._send(f, "503 5.5.1 No valid recipients")
                    continue
                self._send(f, "354 End data with <CR><LF>.<CR><LF>")
                data = []
                while True:
                    l = f.readline(1 << 20)
                    if not l:
                        return
                    if l in (b".\r\n", b".\n"):
                        break
                    if l.startswith(b"."):
                        l = l[1:]
                    data.append(l)
                with self.lock:
                    txn["data"] = b"".join(data)
                    ev = self._stall
                if ev is not None:
                    ev.wait(60)
                replies = []
                for addr in txn["accepted"]:
                    rule = self._rule_for(addr)
                    reply = rule[1] if rule and rule[0] == "data" \
                        else "250 2.0.0 <%s> delivered" % addr
                    replies.append(reply)
                    with self.lock:
                        txn["results"].append((addr, reply))
                        self.changed.notify_all()
                self._send(f, *replies)
                txn = None
            elif verb == "RSET":
                txn = None
                self._send(f, "250 2.0.0 Ok")
            elif verb == "NOOP":
                self._send(f, "250 2.0.0 Ok")
            elif verb == "QUIT":
                self._send(f, "221 2.0.0 Bye")
                return
            else:
                self._send(f, "500 5.5.2 Unknown command")

    def close(self):
        self._closing = True
        self.unstall()
        try:
            self.sock.close()
        except OSError:
            pass
        self._acceptor.join(5)
        if self.unix_path:
            try:
                os.unlink(self.unix_path)
            except OSError:
                pass


# ---------------------------------------------------------------- Ostia

def _lines(content):
    items = content.items() if isinstance(content, dict) else content
    return "".join("%s %s\n" % (k, v) for k, v in items)


class Delivery:
    """An Ostia instance configured to deliver (see the module text).

    factory: the ostia_factory fixture.  users: local parts of VDOMAIN's
    mailboxes (Maildir VDOMAIN/NAME/).  lda: a DovecotMail whose LDA
    the `dovecot` pipe service runs (and PIPE_DOMAIN is routed to it).
    Change .params / .transports / .master_extra before start().
    """

    def __init__(self, factory, users=DEFAULT_USERS, lda=None,
                 agent_procs=2):
        self.o = factory()
        self.user = self.o.user
        if os.geteuid() == 0:
            self.uid, self.gid = user_ids(self.user)
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
        self.tables = os.path.join(self.o.tmpdir, "tables")
        os.makedirs(self.tables, exist_ok=True)
        os.chmod(self.tables, 0o755)
        self.vbase = os.path.join(self.o.tmpdir, "vmail")
        os.makedirs(self.vbase, exist_ok=True)
        os.chmod(self.vbase, 0o755)
        if os.geteuid() == 0:
            os.chown(self.vbase, self.uid, self.gid)
        self.mailboxes = {"%s@%s" % (u, VDOMAIN): "%s/%s/" % (VDOMAIN, u)
                          for u in users}
        self.transports = {DISCARD_DOMAIN: "discard:",
                           ERROR_DOMAIN: "bouncer:" + ERROR_TEXT,
                           "errsvc.test": "error:" + ERROR_TEXT,
                           "retrysvc.test": "retry:" + RETRY_TEXT}
        self.valiases = {ERROR_ALIAS: "x@errsvc.test",
                         RETRY_ALIAS: "x@retrysvc.test"}
        self.lda = lda
        self.agent_procs = agent_procs
        self.inline_mailboxes = False   # inline:{...} instead of texthash
        self.master_extra = ""
        self.params = {
            "myhostname": "mx.ostia.test",
            "mydomain": "ostia.test",
            # Unqualified postmaster (double bounces) -> our mailbox.
            "myorigin": VDOMAIN,
            "mydestination": "localhost",
            "mynetworks": "127.0.0.0/8",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "recipient_delimiter": "+",
            "virtual_mailbox_domains": VDOMAIN,
            "virtual_mailbox_base": self.vbase,
            "virtual_uid_maps": "static:%d" % self.uid,
            "virtual_gid_maps": "static:%d" % self.gid,
            "virtual_minimum_uid": "1",
            "virtual_transport": "virtual",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "queue_run_delay": "1s",
            "smtpd_error_sleep_time": "0",
            "smtpd_soft_error_limit": "100",
            "smtpd_hard_error_limit": "200",
        }
        if lda is not None:
            self.transports[PIPE_DOMAIN] = "dovecot:"
            self.params["dovecot_destination_recipient_limit"] = "1"

    # -- configuration
    def table(self, name, content):
        path = os.path.join(self.tables, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(content if isinstance(content, str) else _lines(content))
        os.chmod(path, 0o644)
        return "texthash:" + path

    def master_cf(self):
        n = self.agent_procs
        lines = ["127.0.0.1:@port:smtp@ inet n - n - 1 smtpd",
                 # As in Postfix: without a qmgr service nothing is
                 # scheduled (the queue process does the job).
                 "qmgr unix n - n 300 1 qmgr",
                 "virtual unix - n n - %d virtual" % n,
                 "lmtp unix - - n - %d lmtp" % n,
                 "discard unix - - n - - discard",
                 "error unix - - n - - error",
                 "retry unix - - n - - error",
                 "bouncer unix - - n - - error"]
        if self.lda is not None:
            lines += ["dovecot unix - n n - %d pipe" % n,
                      "  flags=DRhu user=%s argv=%s -c %s -f ${sender} "
                      "-d ${user}@${domain}"
                      % (self.user, self.lda.lda_path, self.lda.lda_config)]
        return "\n".join(lines) + "\n" + self.master_extra

    def route(self, domain, transport):
        """transport_maps entry (e.g. lmtp.test -> "lmtp:inet:...")."""
        self.transports[domain] = transport
        return self

    def write_config(self):
        params = dict(self.params)
        if self.inline_mailboxes:
            params["virtual_mailbox_maps"] = "inline:{ %s }" % ", ".join(
                "%s=%s" % kv for kv in self.mailboxes.items())
        else:
            params["virtual_mailbox_maps"] = self.table("vmailbox",
                                                        self.mailboxes)
        if self.transports:
            params["transport_maps"] = self.table("transport",
                                                  self.transports)
        if self.valiases:
            params["virtual_alias_maps"] = self.table("valias",
                                                      self.valiases)
        self.o.write_master_cf(self.master_cf())
        self.o.update_main_cf(params)

    def start(self):
        self.write_config()
        self.o.start_foreground()
        return self

    # -- sending
    def send(self, rcpts, message=None, sender=SENDER, mail_opts=(),
             rcpt_opts=None, tok=None):
        """Send one message through smtpd with smtplib; return its queue
        ID.  rcpts: address or list; rcpt_opts: {address: [params]} or
        a list of params for every recipient.  message defaults to
        make_message(tok)."""
        if isinstance(rcpts, str):
            rcpts = [rcpts]
        if message is None:
            message = make_message(tok or token(), sender=sender,
                                   to=rcpts[0])
        s = smtplib.SMTP("127.0.0.1", self.o.port,
                         local_hostname="client.test", timeout=WAIT)
        try:
            s.ehlo()
            code, resp = s.mail(sender, list(mail_opts))
            assert code == 250, "MAIL FROM:<%s> %s: %d %r\n%s" % (
                sender, mail_opts, code, resp, self.diag())
            for r in rcpts:
                opts = rcpt_opts.get(r, []) if isinstance(rcpt_opts, dict) \
                    else list(rcpt_opts or [])
                code, resp = s.rcpt(r, opts)
                assert code == 250, "RCPT TO:<%s> %s: %d %r\n%s" % (
                    r, opts, code, resp, self.diag())
            code, resp = s.data(message)
            assert code == 250, "DATA: %d %r\n%s" % (code, resp, self.diag())
            m = QUEUED_RE.search(resp.decode("utf-8", errors="replace"))
            assert m, "no queue ID in %r" % resp
            return m.group(1)
        finally:
            try:
                s.quit()
            except (smtplib.SMTPException, OSError):
                s.close()

    # -- mailboxes
    def maildir(self, address):
        local, _, domain = address.rpartition("@")
        assert domain == VDOMAIN, address
        return os.path.join(self.vbase, self.mailboxes[address].rstrip("/"))

    def messages(self, address):
        return maildir_files(self.maildir(address))

    def wait_messages(self, address, n=1, containing=None, timeout=WAIT):
        """Wait until address's Maildir holds at least n messages (those
        whose bytes contain `containing`, when given); return their
        paths."""
        def found():
            out = []
            for p in self.messages(address):
                try:
                    data = read_bytes(p)
                except FileNotFoundError:   # moved to cur/ meanwhile
                    continue
                if containing is None or containing.encode() in data:
                    out.append(p)
            return out if len(out) >= n else None
        try:
            return wait_until(found, timeout, 0.1,
                              "%d message(s)%s in the Maildir of %s"
                              % (n, " containing %r" % containing
                                 if containing else "", address))
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, self.diag())) from None

    def wait_dsn(self, address=SENDER, containing=None, timeout=WAIT):
        """Wait for a notice in address's Maildir that contains
        `containing` (e.g. the original message's token); return it as
        a Dsn."""
        paths = self.wait_messages(address, 1, containing, timeout)
        return Dsn(read_bytes(paths[0]), paths[0])

    def all_maildir_files(self):
        out = []
        for root, dirs, files in os.walk(self.vbase):
            if os.path.basename(root) in ("new", "cur"):
                out += [os.path.join(root, f) for f in files]
        return sorted(out)

    # -- queue
    def spool_ids(self):
        """Queue IDs with a file in incoming/, deferred/, hold/ (or
        active/, if the implementation has one)."""
        out = set()
        for sub in ("incoming", "deferred", "hold", "active"):
            try:
                names = os.listdir(os.path.join(self.o.queue_dir, sub))
            except FileNotFoundError:
                continue
            out.update(n for n in names if QUEUE_ID_RE.match(n))
        return out

    def spool_has(self, qid):
        for sub in ("incoming", "deferred", "hold", "active", "status"):
            if os.path.exists(os.path.join(self.o.queue_dir, sub, qid)):
                return sub
        return None

    def wait_queue_empty(self, timeout=WAIT):
        try:
            wait_until(lambda: not self.spool_ids(), timeout, 0.1,
                       "the queue to be empty")
        except AssertionError as e:
            raise AssertionError("%s: still %r\n%s"
                                 % (e, sorted(self.spool_ids()),
                                    self.diag())) from None

    def queue(self, *args, check=False):
        """Run `ostia queue ARGS...` (CompletedProcess)."""
        return self.o.cli("queue", *args, check=check)

    def listing(self):
        """`ostia queue` parsed: (entries, footer); AssertionError with
        the output when it fails."""
        r = self.queue()
        assert r.returncode == 0, "ostia queue exited %d\n%s\n%s" % (
            r.returncode, r.stdout, r.stderr)
        return parse_queue(r.stdout)

    def wait_listed(self, qid, predicate=lambda e: True, what="",
                    timeout=WAIT):
        """Wait until `ostia queue` lists qid and predicate(entry)."""
        last = {"out": ""}

        def ok():
            r = self.queue()
            last["out"] = r.stdout + r.stderr
            if r.returncode != 0:
                return None
            entries, _ = parse_queue(r.stdout)
            e = entries.get(qid)
            return e if e is not None and predicate(e) else None
        try:
            return wait_until(ok, timeout, 0.1,
                              "`ostia queue` to list %s %s" % (qid, what))
        except AssertionError as e:
            raise AssertionError("%s\nlast listing:\n%s\n%s"
                                 % (e, last["out"], self.diag())) from None

    # -- logs
    def wait_log(self, regex, timeout=WAIT, start=0):
        return self.o.wait_for_log(regex, timeout=timeout, start=start)

    def log_count(self, regex, start=0):
        return len(re.findall(regex, self.o.log_text()[start:], re.M))

    def diag(self):
        """Log tail, queue listing and Maildir files, for failures."""
        try:
            r = self.o.cli("queue", timeout=10)
            q = "exit %d\n%s%s" % (r.returncode, r.stdout, r.stderr)
        except Exception as e:  # a hung tool must not hide the log
            q = repr(e)
        files = self.all_maildir_files()
        return ("--- ostia queue ---\n%s\n--- spool ---\n%r\n"
                "--- Maildir files (%d) ---\n%s\n%s"
                % (q, sorted(self.spool_ids()), len(files),
                   "\n".join(files[:40]), self.o.diagnostics(60)))


def agent_log_re(rcpt, status, text=None):
    """A Postfix-style agent log line for rcpt with status
    (sent|deferred|bounced) and, when given, a regex for the text in
    parentheses."""
    return (PROC + r"%s: to=<%s>.*status=%s \(%s" % (
        QUEUE_ID, re.escape(rcpt), status, text or ""))


def child_argv(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def service_pids(o, service):
    """Children of the master running master.cf service `service` (or
    "queue", the internal queue process)."""
    out = []
    for pid in o.child_pids():
        argv = child_argv(pid)
        if b"child" in argv:
            i = argv.index(b"child")
            if argv[i + 1:i + 2] == [service.encode()]:
                out.append(pid)
    return out


def proc_ids(pid):
    """(real uid, effective uid, real gid, effective gid) of pid, or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            text = f.read()
    except OSError:
        return None
    uid = re.search(r"^Uid:\s+(\d+)\s+(\d+)", text, re.M)
    gid = re.search(r"^Gid:\s+(\d+)\s+(\d+)", text, re.M)
    return (int(uid.group(1)), int(uid.group(2)), int(gid.group(1)),
            int(gid.group(2)))


def wait_services_ready(o, timeout=WAIT):
    """Wait until `ostia status` counts every child of every service
    ready."""
    def ready():
        st = o.cli("status").stdout
        svcs = [l for l in st.splitlines() if l.startswith("service ")]
        if not svcs:
            return False
        for l in svcs:
            m = re.search(r"children=(\d+)/(\d+) ready=(\d+)", l)
            if not m or not (m.group(1) == m.group(2) == m.group(3)):
                return False
        return True
    try:
        wait_until(ready, timeout, 0.1, "all children ready")
    except AssertionError as e:
        raise AssertionError("%s\n%s\n%s" % (e, o.cli("status").stdout,
                                             o.diagnostics())) from None


def settle(seconds):
    """Let time pass for a negative check (something must NOT happen
    within a few retry periods).  Not a timing assertion: the check
    after it holds however slow the machine is."""
    time.sleep(seconds)


def excerpt(text, lines=40):
    return tail(text, lines)
