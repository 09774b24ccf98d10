# SPDX-License-Identifier: MIT
"""Helpers of the outbound scenarios (tests/e2e/20-outbound): Ostia's
smtp delivery agent end to end.

- Mta: an Ostia instance (delivery_e2e.Delivery: virtual Maildirs for
  vmail.test, short retry times, the sender sender@vmail.test is local
  so notices land where the test reads them) plus the `smtp` service in
  master.cf, mailboxes in other domains (add_mailbox) and extra
  listeners (listen(host, port)), e.g. a receiving Ostia on
  127.0.0.2:MXPORT for the MX host mx1.remote.test.
- PostfixMta: a private Postfix instance (postfix -c DIR start/stop)
  that receives mail into Maildirs (its virtual agent) or relays to a
  relayhost; skips the test when postfix is not installed.
- ContentFilter: the stand-in of the seed's amavis: a scripted SMTP peer
  that re-sends each message, with an added header, to a re-injection
  port and answers only after that worked.
- mx_port(): a port free on 127.0.0.2, .3 and .4 (the MX hosts of the
  tests all use smtp_tcp_port).
- Log regexes for the agent's lines (relay_re, tls_re).
- submit_from(): a submission from another loopback address and HELO
  name (the original client XFORWARD passes on).

Standard library, pytest and the e2e helpers only.  No timing
assertions: every wait is a bounded poll for a condition.
"""

import os
import pwd
import re
import smtplib
import socket
import subprocess
import time

import pytest

from delivery_e2e import (DEFAULT_USERS, PROC, QUEUE_ID, QUEUED_RE,
                          SENDER, VDOMAIN, WAIT, Delivery, header_block,
                          make_message, maildir_files, read_bytes)
from ostia_harness import find_binary, wait_until
from smtp_peer import SmtpPeer

REMOTE = "remote.test"
MX_HOSTS = {"mx1": "127.0.0.2", "mx2": "127.0.0.3", "mx3": "127.0.0.4"}


def mx_port():
    """A TCP port that was free on 127.0.0.2, 127.0.0.3 and 127.0.0.4."""
    for _ in range(50):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.2", 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        ok = True
        for ip in ("127.0.0.1", "127.0.0.3", "127.0.0.4"):
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                t.bind((ip, port))
            except OSError:
                ok = False
            finally:
                t.close()
        if ok:
            return port
    raise RuntimeError("no port free on 127.0.0.2-4")


def mx_zone(domain=REMOTE, mxs=(("mx1", 10),), hosts=None, ttl=300):
    """Zone lines: domain's MX records (name, preference) and the A
    records of the MX hosts (hosts: {name: ip}, default MX_HOSTS)."""
    hosts = hosts or MX_HOSTS
    lines = ["%s. %d IN MX %d %s.%s." % (domain, ttl, pref, name, REMOTE)
             for name, pref in mxs]
    if domain == REMOTE:
        lines += ["%s.%s. %d IN A %s" % (name, REMOTE, ttl, ip)
                  for name, ip in hosts.items()]
    return lines


# ---------------------------------------------------------------- logs

def relay_re(host, ip, port, strict=False):
    """relay=host[ip]:port, (Postfix's form; for a next hop given as an
    IP address, "[ip]:port" is accepted too unless strict)."""
    form = r"%s\[%s\]:%d," % (re.escape(host), re.escape(ip), port)
    if host == ip and not strict:
        form = r"(?:%s)?\[%s\]:%d," % (re.escape(host), re.escape(ip),
                                         port)
    return "relay=" + form


def sent_re(rcpt, host=None, ip=None, port=None):
    """The agent's status=sent line for rcpt (through host[ip]:port)."""
    relay = relay_re(host, ip, port) if host else r"relay=[^,]+,"
    return (PROC + r"%s: to=<%s>, (?:orig_to=<[^>]*>, )?%s.*status=sent "
            r"\(.*" % (QUEUE_ID, re.escape(rcpt), relay))


def status_re(rcpt, status, text=""):
    """The agent's line for rcpt with status (deferred/bounced/sent) and
    a regex for the start of the text in parentheses."""
    return (PROC + r"%s: to=<%s>, .*status=%s \(%s.*" % (
        QUEUE_ID, re.escape(rcpt), status, text))


def host_said(host, ip):
    """Regex: "host NAME[IP] said:" (a port after the ] allowed; for an
    address next hop NAME may be missing)."""
    name = re.escape(host)
    if host == ip:
        name = "(?:%s)?" % name
    return r"host %s\[%s\](?::\d+)? said: " % (name, re.escape(ip))


def tls_re(kind, host, ip, port):
    """"<kind> TLS connection established to host[ip]:port: TLSv1.x"."""
    return (PROC + r"%s TLS connection established to %s\[%s\]:%d: "
            r"TLSv1\.[23]" % (kind, re.escape(host), re.escape(ip), port))


# ---------------------------------------------------------------- Ostia

class Mta(Delivery):
    """A Delivery instance with the smtp agent; see the module text.

    hostname: myhostname (names it in Received: headers and EHLO).
    Change .params (main.cf), .transports, .master_extra, add_mailbox()
    and listen() before start().
    """

    def __init__(self, factory, hostname, users=DEFAULT_USERS,
                 agent_procs=2):
        super().__init__(factory, users=users, agent_procs=agent_procs)
        self.params["myhostname"] = hostname
        self.params["smtp_helo_name"] = hostname
        self.params["inet_protocols"] = "ipv4"
        self.params["smtp_connect_timeout"] = "5s"
        self.params["smtp_helo_timeout"] = "20s"
        self.params["smtp_mail_timeout"] = "20s"
        self.params["smtp_rcpt_timeout"] = "20s"
        self.params["smtp_data_init_timeout"] = "20s"
        self.params["smtp_data_xfer_timeout"] = "20s"
        self.params["smtp_data_done_timeout"] = "20s"
        self.domains = [VDOMAIN]
        self.listeners = []
        self.smtp_service = "smtp unix - - n - - smtp\n"

    def add_mailbox(self, address):
        local, _, domain = address.rpartition("@")
        self.mailboxes[address] = "%s/%s/" % (domain, local)
        if domain not in self.domains:
            self.domains.append(domain)
        return self

    def listen(self, host, port, options=()):
        """An extra smtpd listener host:port (with -o options)."""
        line = "%s:%d inet n - n - - smtpd\n" % (host, port)
        line += "".join("  -o %s\n" % o for o in options)
        self.listeners.append(line)
        return self

    def use_dns(self, dns, port):
        """Point the agent at the test DNS server; MX hosts on port."""
        self.params["dns_resolvers"] = dns.resolvers
        self.params["smtp_tcp_port"] = str(port)
        if dns.trust_anchor_file:
            self.params["dnssec_trust_anchor_file"] = dns.trust_anchor_file
        return self

    def master_cf(self):
        text = super().master_cf()
        if not re.search(r"^smtp\s+unix\s", text, re.M):
            text += self.smtp_service
        return text + "".join(self.listeners)

    def write_config(self):
        self.params["virtual_mailbox_domains"] = ", ".join(self.domains)
        super().write_config()

    def maildir(self, address):
        return os.path.join(self.vbase, self.mailboxes[address].rstrip("/"))

    def wait_sent(self, rcpt, host=None, ip=None, port=None, start=0,
                  timeout=WAIT):
        return self.wait_log(sent_re(rcpt, host, ip, port), timeout, start)

    def wait_status(self, rcpt, status, text="", start=0, timeout=WAIT):
        return self.wait_log(status_re(rcpt, status, text), timeout, start)

    def assert_no_status(self, rcpt, status, start=0):
        m = re.search(status_re(rcpt, status), self.o.log_text()[start:],
                      re.M)
        assert m is None, "unexpected %s line for %s: %r\n%s" % (
            status, rcpt, m.group(0), self.diag())

    def wait_in_queue_dir(self, qid, sub, timeout=WAIT):
        """Wait until qid's queue file is in QUEUE/sub (e.g. deferred)."""
        try:
            wait_until(lambda: self.spool_has(qid) == sub, timeout, 0.1,
                       "%s in %s/" % (qid, sub))
        except AssertionError as e:
            raise AssertionError("%s (it is in %s)\n%s" % (
                e, self.spool_has(qid), self.diag())) from None

    def wait_deferred_in_queue(self, qid, words=None, timeout=WAIT):
        """Wait until qid is listed with a reason (matching the regex
        words, case-insensitive, when given); return the entry."""
        def ok(e):
            return e.reason and (words is None or
                                 re.search(words, e.reason, re.I))
        return self.wait_listed(qid, ok, "deferred%s" % (
            " with %r in the reason" % words if words else ""), timeout)


def b_receiver(factory, hostname="mx1.remote.test",
               mailboxes=("bob@" + REMOTE, "carol@" + REMOTE)):
    """An Ostia that receives mail for remote.test (mailboxes) into
    Maildirs; listeners are added by the caller."""
    b = Mta(factory, hostname)
    for a in mailboxes:
        b.add_mailbox(a)
    return b


def message_for(tok, to, sender=SENDER, extra_headers=(), eightbit=False,
                body=None):
    return make_message(tok, sender=sender, to=to, eightbit=eightbit,
                        extra_headers=extra_headers, body=body)


def submit_from(mta, addr, helo, rcpts, message, sender=SENDER):
    """Submit one message to mta's smtpd from the local address addr
    (a loopback one other than 127.0.0.1: an original client that
    XFORWARD must name) with EHLO helo; return its queue ID."""
    if isinstance(rcpts, str):
        rcpts = [rcpts]
    s = smtplib.SMTP("127.0.0.1", mta.o.port, local_hostname=helo,
                     timeout=WAIT, source_address=(addr, 0))
    try:
        s.ehlo()
        code, resp = s.mail(sender)
        assert code == 250, (code, resp, mta.diag())
        for r in rcpts:
            code, resp = s.rcpt(r)
            assert code == 250, (r, code, resp, mta.diag())
        code, resp = s.data(message)
        assert code == 250, (code, resp, mta.diag())
        m = QUEUED_RE.search(resp.decode("utf-8", errors="replace"))
        assert m, "no queue ID in %r" % resp
        return m.group(1)
    finally:
        try:
            s.quit()
        except smtplib.SMTPException:
            pass


def write_table(directory, name, text, kind="pcre"):
    """A table file (text without its leading newlines, mode 0644: the
    owner rule of table files) in directory; returns "KIND:PATH"."""
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text.lstrip("\n"))
    os.chmod(path, 0o644)
    return kind + ":" + path


def received_headers(data):
    """The Received: header fields (unfolded, str) of a message, top
    first."""
    return [h.decode("utf-8", "replace") for h in header_block(data)
            if h.lower().startswith(b"received:")]


def no_more_copies(mta, address, tok, n=1):
    files = [p for p in mta.messages(address) if tok.encode() in
             read_bytes(p)]
    assert len(files) == n, "%d copies of %s in %s's Maildir (expected %d)" \
        "\n%s" % (len(files), tok, address, n, mta.diag())
    return files


# ---------------------------------------------------------------- filter

class ContentFilter(SmtpPeer):
    """The seed's amavis, reduced: receives a message on 127.0.0.1:.port,
    re-sends it with "X-Virus-Scanned: <header>" prepended to
    127.0.0.1:reinject_port (same envelope) and replies with the
    re-injection's answer (250 ... queued as ... on success, 451 when
    the re-injection failed)."""

    def __init__(self, reinject_port=None, header="scanned by the test "
                 "filter"):
        self.reinject_port = reinject_port
        self.header = header
        self.reinjected = []
        self.reinject_errors = []
        super().__init__(name="filter.test", on_message=self._pass_on)

    def _pass_on(self, txn):
        m = re.match(r"MAIL FROM:\s*<([^>]*)>", txn["mail"], re.I)
        sender = m.group(1) if m else ""
        rcpts = [a for a, _, r in txn["rcpts"] if r.startswith("2")]
        data = b"X-Virus-Scanned: " + self.header.encode() + b"\r\n" + \
            txn["data"]
        try:
            s = smtplib.SMTP("127.0.0.1", self.reinject_port,
                             local_hostname="filter.test", timeout=WAIT)
            try:
                refused = s.sendmail(sender, rcpts, data)
                code, resp = s.noop()
            finally:
                try:
                    s.quit()
                except (smtplib.SMTPException, OSError):
                    s.close()
        except (smtplib.SMTPException, OSError) as e:
            with self.lock:
                self.reinject_errors.append(repr(e))
            return "451 4.5.0 re-injection failed: %s" % e
        with self.lock:
            self.reinjected.append((sender, rcpts, refused))
        return "250 2.0.0 Ok, re-injected by the test filter"


# ---------------------------------------------------------------- Postfix

def _run_tty(cmd, timeout=60):
    """Run a Postfix command; its diagnostics go to a terminal only, so
    give it a pty.  Returns (exit code, output)."""
    import pty
    import select
    mfd, sfd = pty.openpty()
    try:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=sfd,
                             stderr=sfd, close_fds=True)
    finally:
        os.close(sfd)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while True:
            r, _, _ = select.select([mfd], [], [], 0.2)
            data = b""
            if r:
                try:
                    data = os.read(mfd, 65536)
                except OSError:
                    data = b""
                out += data
            if p.poll() is not None and not data:
                break
            if time.monotonic() > deadline:
                p.kill()
                out += b"\n(timed out)"
                break
        p.wait(10)
    finally:
        os.close(mfd)
    return p.returncode, out.decode("utf-8", "replace")


class PostfixMta:
    """A private Postfix instance in a fresh directory (root only).

    listen: [(host, port)] smtpd listeners.  mailboxes: addresses
    delivered by Postfix's virtual agent into Maildirs under .vbase
    (owned by the ostia test user).  extra: main.cf parameters (a later
    line wins).  Stop with close().
    """

    SERVICES = [
        "pickup unix n - n 60 1 pickup",
        "cleanup unix n - n - 0 cleanup",
        "qmgr unix n - n 300 1 qmgr",
        "tlsmgr unix - - n 1000? 1 tlsmgr",
        "rewrite unix - - n - - trivial-rewrite",
        "bounce unix - - n - 0 bounce",
        "defer unix - - n - 0 bounce",
        "trace unix - - n - 0 bounce",
        "verify unix - - n - 1 verify",
        "flush unix n - n 1000? 0 flush",
        "proxymap unix - - n - - proxymap",
        "proxywrite unix - - n - 1 proxymap",
        "smtp unix - - n - - smtp",
        "relay unix - - n - - smtp",
        "showq unix n - n - - showq",
        "error unix - - n - - error",
        "retry unix - - n - - error",
        "discard unix - - n - - discard",
        "local unix - n n - - local",
        "virtual unix - n n - - virtual",
        "lmtp unix - - n - - lmtp",
        "anvil unix - - n - 1 anvil",
        "scache unix - - n - 1 scache",
        "postlog unix-dgram n - n - 1 postlogd",
    ]

    def __init__(self, base, user, listen, mailboxes=(), extra=None,
                 hostname="postfix.test"):
        self.binary = find_binary("postfix")
        if self.binary is None:
            pytest.skip("peer postfix is not installed")
        if os.geteuid() != 0:
            pytest.skip("a private Postfix instance needs root")
        try:
            pwd.getpwnam("postfix")
        except KeyError:
            pytest.skip("the postfix system user does not exist")
        self.dir = base
        self.confdir = os.path.join(base, "etc")
        self.spool = os.path.join(base, "spool")
        self.log = os.path.join(base, "log", "maillog")
        self.vbase = os.path.join(base, "vmail")
        self.started = False
        for d in ("etc", "log", "spool", "data", "vmail"):
            os.makedirs(os.path.join(base, d), exist_ok=True)
            os.chmod(os.path.join(base, d), 0o755)
        pw = pwd.getpwnam("postfix")
        os.chown(os.path.join(base, "data"), pw.pw_uid, pw.pw_gid)
        u = pwd.getpwnam(user)
        os.chown(self.vbase, u.pw_uid, u.pw_gid)
        self.mailboxes = {a: "%s/%s/" % (a.split("@")[1], a.split("@")[0])
                          for a in mailboxes}
        domains = sorted({a.split("@")[1] for a in mailboxes})
        vmap = os.path.join(base, "etc", "vmailbox")
        with open(vmap, "w") as f:
            f.write("".join("%s %s\n" % kv for kv in self.mailboxes.items()))
        main = [
            ("compatibility_level", "3.6"),
            ("queue_directory", self.spool),
            ("data_directory", os.path.join(base, "data")),
            ("maillog_file", self.log),
            ("maillog_file_prefixes", os.path.join(base, "log")),
            ("mail_owner", "postfix"),
            ("setgid_group", "postdrop"),
            ("myhostname", hostname),
            ("mydomain", hostname),
            ("myorigin", "$myhostname"),
            ("inet_interfaces", "loopback-only"),
            ("inet_protocols", "ipv4"),
            ("mynetworks", "127.0.0.0/8"),
            ("mydestination", ""),
            ("local_recipient_maps", ""),
            ("alias_maps", ""),
            ("alias_database", ""),
            ("biff", "no"),
            ("smtpd_peername_lookup", "no"),
            ("virtual_mailbox_domains", ", ".join(domains)),
            ("virtual_mailbox_maps", "texthash:" + vmap),
            ("virtual_mailbox_base", self.vbase),
            ("virtual_uid_maps", "static:%d" % u.pw_uid),
            ("virtual_gid_maps", "static:%d" % u.pw_gid),
            ("virtual_minimum_uid", "1"),
            ("minimal_backoff_time", "2s"),
            ("maximal_backoff_time", "4s"),
            ("queue_run_delay", "2s"),
            ("smtp_connect_timeout", "5s"),
        ]
        main += list((extra or {}).items())
        with open(os.path.join(self.confdir, "main.cf"), "w") as f:
            f.write("# written by tests/e2e/20-outbound\n")
            for k, v in main:
                f.write("%s = %s\n" % (k, v))
        with open(os.path.join(self.confdir, "master.cf"), "w") as f:
            for host, port in listen:
                f.write("%s:%d inet n - n - - smtpd\n" % (host, port))
            f.write("\n".join(self.SERVICES) + "\n")

    def postfix(self, *args):
        return _run_tty([self.binary, "-c", self.confdir, *args])

    def start(self):
        rc, out = self.postfix("check")
        if rc != 0:
            raise AssertionError("postfix check failed (%d): %s\n%s"
                                 % (rc, out, self.log_text()))
        rc, out = self.postfix("start")
        self.started = True
        if rc != 0:
            raise AssertionError("postfix start failed (%d): %s\n%s"
                                 % (rc, out, self.log_text()))
        pidfile = os.path.join(self.spool, "pid", "master.pid")
        wait_until(lambda: os.path.exists(pidfile), 30, 0.1,
                   "Postfix's master.pid")
        return self

    def close(self):
        if not self.started:
            return
        self.started = False
        rc, _ = self.postfix("stop")
        if rc != 0:
            self.postfix("abort")

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, regex, timeout=WAIT):
        try:
            return wait_until(lambda: re.search(regex, self.log_text(),
                                                re.M), timeout, 0.1,
                              "Postfix log line %r" % regex)
        except AssertionError as e:
            raise AssertionError("%s\n--- Postfix log ---\n%s"
                                 % (e, self.log_text()[-4000:])) from None

    def maildir(self, address):
        return os.path.join(self.vbase, self.mailboxes[address].rstrip("/"))

    def wait_messages(self, address, containing, timeout=WAIT):
        def found():
            out = [p for p in maildir_files(self.maildir(address))
                   if containing.encode() in read_bytes(p)]
            return out or None
        try:
            return wait_until(found, timeout, 0.1,
                              "a message with %s for %s in Postfix's "
                              "Maildir" % (containing, address))
        except AssertionError as e:
            raise AssertionError("%s\n--- Postfix log ---\n%s"
                                 % (e, self.log_text()[-4000:])) from None

