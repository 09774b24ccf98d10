# SPDX-License-Identifier: MIT
"""Helpers of the SMTP access-policy scenarios (tests/e2e/14-policy).

- Setup: an Ostia instance (from the ostia_factory fixture) with its
  lookup tables written into TMPDIR/tables, main.cf parameters gathered
  and written at start().
- hosting(): our domains, the same in every scenario:
    OURS     ours.example      mydestination (local class), local
                               recipients "user" and "localuser"
    HOSTED   hosted.example    virtual_mailbox_domains; mailboxes
                               user@, alice@, bob@ (texthash)
    aliases  fwd@ both domains -> someone@elsewhere.example
                               (virtual_alias_maps: an alias of ours
                               that points outside)
  and seed(): the seed deployment's restriction lists (iRedMail,
  /work/shared/seed) with texthash/pcre tables instead of MySQL.
- Smtp: one SMTP session over a raw socket (ostia_harness.SmtpClient),
  optionally from another loopback source address (127.0.0.2 is
  outside mynetworks = 127.0.0.1/32), with AUTH PLAIN.
- Expected replies are templates: "454 4.7.1 <{rcpt}>: Relay access
  denied" where each {name} is given as one or more acceptable strings
  (matched case-insensitively) or a compiled regex; the literal parts
  must match exactly.  A template may also be a compiled regex (searched
  in the last reply line) or a tuple of alternatives.
- The queue: files by queue ID under queue_directory (any
  subdirectory but tmp/; not partial files), and a walker of the queue file records
  (docs/queue-format.md) for the trailer records the access actions
  write after the message: F (FILTER), Q (HOLD), J (REDIRECT).
"""

import base64
import os
import re
import socket
import warnings

with warnings.catch_warnings():
    # Deprecated in 3.11, as tests/e2e/11-auth uses it too.
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt

from ostia_harness import SmtpClient, unfinished_files, wait_until
from ostia_harness import queue_files as harness_queue_files

SMTPD = r"ostia/smtpd\[\d+\]: "
QID = r"(?:NOQUEUE|[0-9A-Z]{16})"

MYHOSTNAME = "mx.ours.example"
OURS = "ours.example"
HOSTED = "hosted.example"
RELAYED = "relayed.example"
ELSEWHERE = "elsewhere.example"
HELO = "mail.elsewhere.example"

INSIDER = "127.0.0.1"      # the harness's listen address; in mynetworks
OUTSIDER = "127.0.0.2"     # loopback too, outside mynetworks=127.0.0.1/32

USERS = {
    "alice@hosted.example": "alice secret 1",
    "bob@hosted.example": "bob secret 2",
}

SIMPLE = (b"From: someone@elsewhere.example\r\n"
          b"To: user@hosted.example\r\n"
          b"Subject: access policy test\r\n"
          b"\r\n"
          b"Hello.\r\n")

QUEUED_RE = re.compile(r"250 2\.0\.0 Ok: queued as ([0-9A-Z]{16})\Z")


# ---------------------------------------------------------------- setup

def _table_lines(content):
    if isinstance(content, str):
        return content if content.endswith("\n") or not content \
            else content + "\n"
    items = content.items() if isinstance(content, dict) else content
    return "".join("%s %s\n" % (k, v) for k, v in items)


class Setup:
    """An Ostia instance being configured.

    factory: the ostia_factory fixture; master_cf: master.cf text (the
    harness default is one smtpd on 127.0.0.1:@port:smtp@).  Tables go
    to o.tmpdir/tables (world readable: the lookup process runs as
    mail_owner) and are removed with the instance.
    """

    def __init__(self, factory, master_cf=None):
        kw = {"master_cf": master_cf} if master_cf is not None else {}
        self.o = factory(**kw)
        self.dir = os.path.join(self.o.tmpdir, "tables")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.params = {}

    def file(self, name, text, mode=0o644):
        """Write a file into the tables directory; return its path."""
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def table(self, name, content, kind="texthash"):
        """A table of kind (texthash, pcre, ...) from a dict, a list of
        (key, value) or text; returns "kind:/path"."""
        return "%s:%s" % (kind, self.file(name, _table_lines(content)))

    def update(self, params):
        self.params.update(params)
        return self

    def start(self):
        """Write main.cf (harness defaults + params) and start; return
        the running ostia_harness.Ostia."""
        self.o.update_main_cf(self.params)
        self.o.start_foreground()
        return self.o


def password_table(setup, users=None):
    """texthash table login -> {SHA512-CRYPT}hash (as tests/e2e/11-auth
    makes it) for smtpd_sasl_type = ostia."""
    users = users or USERS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        lines = ["%s {SHA512-CRYPT}%s" % (
            u, crypt.crypt(p, crypt.mksalt(crypt.METHOD_SHA512)))
            for u, p in users.items()]
    return setup.table("passwords", "\n".join(lines) + "\n")


def hosting(setup, mynetworks="192.0.2.0/24"):
    """Our domains and recipients (see the module text); no restriction
    list is set here.  mynetworks: the trusted networks (the default
    leaves every loopback client outside)."""
    mailboxes = {"user@" + HOSTED: HOSTED + "/user/",
                 "alice@" + HOSTED: HOSTED + "/alice/",
                 "bob@" + HOSTED: HOSTED + "/bob/"}
    setup.update({
        "myhostname": MYHOSTNAME,
        "mydomain": OURS,
        "myorigin": "$myhostname",
        "mydestination": "$myhostname, localhost, " + OURS,
        # Both lookup forms Postfix accepts: the local part alone and
        # the whole address.
        "local_recipient_maps": setup.table("local_recipients", {
            "user": "ok", "localuser": "ok",
            "user@" + OURS: "ok", "localuser@" + OURS: "ok"}),
        "alias_maps": "",
        "alias_database": "",
        "virtual_alias_domains": "",
        "virtual_mailbox_domains": HOSTED,
        "virtual_mailbox_maps": setup.table("virtual_mailbox", mailboxes),
        "virtual_alias_maps": setup.table("virtual_alias", {
            "fwd@" + HOSTED: "someone@" + ELSEWHERE,
            "fwd@" + OURS: "someone@" + ELSEWHERE}),
        "recipient_delimiter": "+",
        "mynetworks": mynetworks,
        "smtpd_error_sleep_time": "0",
        "smtpd_soft_error_limit": "100",
        "smtpd_hard_error_limit": "200",
    })
    return setup


HELO_PCRE = (
    "# like iRedMail's helo_access.pcre: private addresses and .local\n"
    "/^\\[?(10|127|192\\.168)\\.[0-9.]+\\]?$/ REJECT Helo names a "
    "private address\n"
    "/\\.local$/ REJECT Helo name in .local\n")

SEED_DNS = ["reject_unknown_sender_domain", "reject_unknown_recipient_domain"]


def seed_recipient_restrictions(dns=True, policy=()):
    """The seed's smtpd_recipient_restrictions as a list; policy: the
    check_policy_service entries to put where the seed has its two
    (iRedAPD and its second policy service)."""
    return ((SEED_DNS if dns else [])
            + ["reject_non_fqdn_sender", "reject_non_fqdn_recipient",
               "reject_unlisted_recipient"]
            + ["check_policy_service " + p for p in policy]
            + ["permit_mynetworks", "permit_sasl_authenticated",
               "reject_unauth_destination"])


ACCOUNT_TABLES = ("virtual_mailbox_domains", "virtual_mailbox_maps",
                  "virtual_alias_maps", "smtpd_sender_login_maps",
                  "smtpd_sasl_password_maps")


def account_database(setup):
    """The same domain, mailboxes, alias and passwords in Ostia's own
    account database (docs/accounts.md: `ostia domain|user|alias add`),
    read through the sqlite: tables `ostia account tables` writes (the
    iRedMail shape the seed reads from MySQL).  Returns {parameter:
    "sqlite:DIR/parameter.cf"}."""
    o = setup.o
    o.cli("domain", "add", HOSTED, check=True)
    users = dict(USERS)
    users["user@" + HOSTED] = "user secret 3"
    for u, p in users.items():
        o.cli("user", "add", u, "--password-stdin", input=p + "\n",
              check=True)
    o.cli("alias", "add", "fwd@" + HOSTED, "someone@" + ELSEWHERE,
          check=True)
    d = os.path.join(setup.dir, "sqlite")
    o.cli("account", "tables", d, check=True)
    return {name: "sqlite:" + os.path.join(d, name + ".cf")
            for name in ACCOUNT_TABLES}


def seed(setup, dns=False, policy=(), mynetworks="127.0.0.1/32",
         tables="texthash"):
    """The seed deployment (postconf -n in /work/shared/seed), MySQL
    tables replaced by texthash files, check_policy_service entries by
    `policy` (default: none), DNS restrictions only with dns=True.

    tables: "texthash" (files written here) or "accountdb" (the
    hosted domain's tables from Ostia's account database, sqlite:).

    Not taken over: TLS (smtpd_tls_auth_only = no here, so AUTH works in
    cleartext in the tests), content_filter (issue 7 item 5), the
    local alias database (alias_maps empty; local_recipient_maps a
    texthash table), the transport and BCC tables (routing only).
    """
    hosting(setup, mynetworks=mynetworks)
    setup.update({
        "myorigin": MYHOSTNAME,
        "mydestination": "$myhostname, localhost, localhost.localdomain, "
                         "localhost.$myhostname",
        "mynetworks_style": "host",
        "allow_percent_hack": "no",
        "swap_bangpath": "no",
        "relay_domains": "$mydestination, " + setup.table(
            "relay_domains", {RELAYED: RELAYED}),
        "virtual_mailbox_domains": setup.table(
            "virtual_mailbox_domains", {HOSTED: HOSTED}),
        "smtpd_helo_required": "yes",
        "smtpd_helo_restrictions": ", ".join([
            "permit_mynetworks", "permit_sasl_authenticated",
            "reject_non_fqdn_helo_hostname", "reject_invalid_helo_hostname",
            "check_helo_access " + setup.table("helo_access.pcre",
                                               HELO_PCRE, kind="pcre")]),
        "smtpd_sender_restrictions": "permit_mynetworks, "
        "reject_sender_login_mismatch, permit_sasl_authenticated",
        "smtpd_recipient_restrictions": ", ".join(
            seed_recipient_restrictions(dns=dns, policy=policy)),
        "smtpd_data_restrictions": "reject_unauth_pipelining",
        "smtpd_reject_unlisted_recipient": "yes",
        "smtpd_reject_unlisted_sender": "yes",
        "smtpd_sender_login_maps": setup.table("sender_login_maps", {
            "alice@" + HOSTED: "alice@" + HOSTED,
            "bob@" + HOSTED: "bob@" + HOSTED}),
        "unknown_local_recipient_reject_code": "550",
        "disable_vrfy_command": "yes",
        "message_size_limit": "15728640",
        "smtpd_sasl_auth_enable": "yes",
        "smtpd_sasl_type": "ostia",
        "smtpd_sasl_password_maps": password_table(setup),
        "smtpd_sasl_security_options": "noanonymous",
        "smtpd_tls_auth_only": "no",
    })
    if tables == "accountdb":
        setup.update(account_database(setup))
    elif tables != "texthash":
        raise ValueError("tables: texthash or accountdb, not %r" % tables)
    return setup


# ---------------------------------------------------------------- SMTP

def connect(o, source=INSIDER, service="smtp", timeout=15.0):
    """A TCP connection to the service from the loopback address
    source; returns an SmtpClient (nothing read yet)."""
    sock = socket.create_connection(("127.0.0.1", o.ports[service]),
                                    timeout=timeout,
                                    source_address=(source, 0))
    sock.settimeout(None)
    return SmtpClient(sock, timeout=timeout)


def b64(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.b64encode(data).decode()


# Sessions still open; conftest.py closes them after each test, before
# the instances stop (an open session would hold a stopping smtpd until
# its grace time ends when a test fails half-way).
OPEN_SESSIONS = []


def close_open_sessions():
    while OPEN_SESSIONS:
        OPEN_SESSIONS.pop().c.close()


class Smtp:
    """One SMTP session.  Every method returns the SmtpReply it read."""

    def __init__(self, o, source=INSIDER, service="smtp", greet=True,
                 timeout=15.0):
        self.o = o
        self.source = source
        self.c = connect(o, source, service, timeout)
        OPEN_SESSIONS.append(self)
        self.greeting = self.c.read_reply() if greet else None

    def cmd(self, line, timeout=None):
        self.c.send_line(line)
        return self.c.read_reply(timeout)

    def ehlo(self, name=HELO, expect_ok=True):
        r = self.cmd("EHLO " + name)
        if expect_ok:
            assert r.code == 250, "EHLO %s: %r" % (name, r)
        return r

    def helo(self, name=HELO):
        return self.cmd("HELO " + name)

    def auth(self, user, password=None):
        password = USERS[user] if password is None else password
        r = self.cmd("AUTH PLAIN " + b64("\0%s\0%s" % (user, password)))
        assert r.code == 235, "AUTH PLAIN %s: %r" % (user, r)
        return r

    def mail(self, sender, params=""):
        return self.cmd("MAIL FROM:<%s>%s" % (sender, params))

    def rcpt(self, path):
        """RCPT TO:path (path as written, brackets included)."""
        return self.cmd("RCPT TO:" + path)

    def rset(self):
        r = self.cmd("RSET")
        assert r.code == 250, r
        return r

    def data(self, message=SIMPLE, timeout=None):
        """DATA; when it gets 354, the message and the dot.  Returns
        (reply to DATA, final reply or None)."""
        r = self.cmd("DATA")
        if r.code != 354:
            return r, None
        if isinstance(message, str):
            message = message.encode("utf-8")
        self.c.send_raw(message + b".\r\n")
        return r, self.c.read_reply(timeout)

    def quit(self):
        """QUIT if the connection is still there; never fails."""
        try:
            self.c.send_line("QUIT")
            self.c.read_reply(5)
        except (EOFError, OSError, AssertionError):
            pass
        self.c.close()
        if self in OPEN_SESSIONS:
            OPEN_SESSIONS.remove(self)

    close = quit


def try_rcpt(s, sender, path):
    """MAIL FROM:<sender>, then (if 250) RCPT TO:path.  Returns (stage,
    reply): ("MAIL", refusal) or ("RCPT", reply).  With
    smtpd_delay_reject = yes Postfix refuses senders at RCPT; some are
    refused at MAIL (reject_sender_login_mismatch in Ostia today): the
    stage is returned so that a test can say which it wants."""
    r = s.mail(sender)
    if r.code != 250:
        return "MAIL", r
    return "RCPT", s.rcpt(path)


def assert_no_data(s):
    """After refusals: DATA must not get 354 (no valid recipient)."""
    r, final = s.data()
    assert final is None and r.code >= 500, \
        "DATA after refused recipients got %r / %r" % (r, final)


def queued_id(reply):
    m = QUEUED_RE.match(reply.raw[-1]) if reply is not None else None
    assert m, "not a queued reply: %r" % (reply,)
    return m.group(1)


def send_message(s, sender, paths, message=SIMPLE):
    """A whole transaction whose every command must succeed; returns the
    queue ID."""
    r = s.mail(sender)
    assert r.code == 250, "MAIL FROM:<%s>: %r" % (sender, r)
    for p in paths:
        r = s.rcpt(p)
        assert r.code == 250, "RCPT TO:%s: %r" % (p, r)
    r, final = s.data(message)
    assert r.code == 354, "DATA: %r" % r
    return queued_id(final)


# ---------------------------------------------------------------- replies

def _alternatives(value):
    if isinstance(value, re.Pattern):
        return value.pattern
    if isinstance(value, (list, tuple)):
        return "|".join(_alternatives(v) for v in value)
    return re.escape(str(value))


def template_regex(template, **values):
    """A regex for a whole reply line from a template (see the module
    text)."""
    parts = re.split(r"\{(\w+)\}", template)
    out = []
    for i, p in enumerate(parts):
        if i % 2 == 0:
            out.append(re.escape(p))
        else:
            if p not in values:
                raise KeyError("template %r needs {%s}" % (template, p))
            out.append("(?i:%s)" % _alternatives(values[p]))
    return "".join(out)


def reply_matches(reply, expected, **values):
    line = reply.raw[-1]
    if isinstance(expected, (list, tuple)):
        return any(reply_matches(reply, e, **values) for e in expected)
    if isinstance(expected, re.Pattern):
        return expected.search(line) is not None
    return re.fullmatch(template_regex(expected, **values), line) \
        is not None


def describe(expected, **values):
    if isinstance(expected, (list, tuple)):
        return " or ".join(describe(e, **values) for e in expected)
    if isinstance(expected, re.Pattern):
        return "/%s/" % expected.pattern
    try:
        return repr(expected.format(**{
            k: (v if isinstance(v, str) else
                (v[0] if isinstance(v, (list, tuple)) and v
                 and isinstance(v[0], str) else "...")) for k, v in
            values.items()}))
    except (KeyError, IndexError):
        return repr(expected)


def assert_reply(reply, expected, what="", **values):
    assert reply_matches(reply, expected, **values), \
        "%s: expected %s\n     got %r" % (what or "reply",
                                          describe(expected, **values),
                                          reply)
    return reply


def client_re(addr):
    """The client as replies and logs name it: NAME[ADDRESS]."""
    return re.compile(r"[^\s\[\]<>]+\[%s\]" % re.escape(addr))


# ---------------------------------------------------------------- log

def reject_logged(o, start, cmd, client_addr, reply, rcpt_names=None,
                  timeout=10.0):
    """Wait for smtpd's "reject: CMD from CLIENT: REPLY; ... to=<RCPT>"
    line (Postfix's format) naming exactly the reply the client got."""
    regex = (SMTPD + QID + r": reject: %s from %s: %s;"
             % (cmd, client_re(client_addr).pattern,
                re.escape(reply.raw[-1])))
    if rcpt_names:
        regex += r".* to=<(?i:%s)>" % _alternatives(list(rcpt_names))
    return o.wait_for_log(regex, timeout=timeout, start=start)


# ---------------------------------------------------------------- queue

def queue_files(o):
    """{queue ID: path} of every committed queue file (any
    subdirectory of queue_directory except tmp/; not partial files)."""
    return harness_queue_files(o.queue_dir)


def settle(o):
    """Wait until no queue file is unfinished (an aborted transaction's
    file is removed by the queue process after the session told it)."""
    wait_until(lambda: not unfinished_files(o.queue_dir), timeout=10,
               what="no unfinished queue file (left: %r)"
               % unfinished_files(o.queue_dir))


def assert_nothing_new(o, before, what=""):
    """No queue file appeared since the snapshot `before`
    (queue_files())."""
    settle(o)
    new = sorted(set(queue_files(o)) - set(before))
    assert not new, "%s: queued %s" % (what or "refused mail", new)


def queue_file(o, qid):
    """Path of queue file qid (waits a little for it)."""
    return wait_until(lambda: queue_files(o).get(qid), timeout=10,
                      what="queue file %s" % qid)


def read_records(path):
    """[(type, payload bytes)] of a queue file (docs/queue-format.md:
    type octet, 4-octet big-endian length, payload)."""
    with open(path, "rb") as f:
        data = f.read()
    out, i = [], 0
    while i < len(data):
        assert i + 5 <= len(data), "%s: truncated record header at %d" \
            % (path, i)
        t = chr(data[i])
        n = int.from_bytes(data[i + 1:i + 5], "big")
        assert i + 5 + n <= len(data), "%s: truncated record %r at %d" \
            % (path, t, i)
        out.append((t, data[i + 5:i + 5 + n]))
        i += 5 + n
    return out


def trailer(recs):
    """The records between the message (after the last M or D) and the
    end record X, which must be last."""
    assert recs and recs[-1][0] == "X", "no X record last: %r" % \
        [t for t, _ in recs[-5:]]
    last = max(i for i, (t, _) in enumerate(recs) if t in "MD")
    return recs[last + 1:-1]


def trailer_values(o, qid, rtype):
    """Payloads (text) of the trailer records of type rtype of qid."""
    return [p.decode("utf-8", "replace")
            for t, p in trailer(read_records(queue_file(o, qid)))
            if t == rtype]


def envelope_recipients(o, qid):
    return [p.decode("utf-8", "replace")
            for t, p in read_records(queue_file(o, qid)) if t == "R"]


def message_bytes(o, qid):
    return b"".join(p for t, p in read_records(queue_file(o, qid))
                    if t == "D")


def message_headers(o, qid):
    """The header section of the stored message (text)."""
    msg = message_bytes(o, qid)
    head, sep, _ = msg.partition(b"\r\n\r\n")
    assert sep, "no end of headers in %r" % msg[:300]
    return head.decode("utf-8", "replace") + "\r\n"
