# SPDX-License-Identifier: MIT
"""Header address rewriting in smtpd (issue 7; Postfix cleanup's
semantics): local_header_rewrite_clients, remote_header_rewrite_domain,
completion of incomplete header addresses (append_at_myorigin,
append_dot_mydomain), canonical mapping of header addresses
(canonical_maps, sender_canonical_maps, recipient_canonical_maps and
their *_classes header_sender / header_recipient) and
receive_override_options = no_address_mappings.

Each test starts the real `ostia` with a single smtpd (no queue manager:
a queued message stays in incoming/), sends one or more messages over
SMTP from 127.0.0.1 (an address of an interface: a "local" client by
default) or 127.0.0.2 (loopback too, but no interface has it: a "remote"
client), and reads the queue file back (docs/queue-format.md): the
envelope from its 'S' and 'R' records, the message from its 'D'
records.  The stored message is smtpd's own Received: header followed by
what the client sent, rewritten; every test compares the rest byte for
byte with the exact expected text, so only the addr-specs named may
change.  Every test message has Message-ID: and Date: already.

The recipients' domains are relay_domains, so every client may send to
them whatever mynetworks says.  Nothing here asserts how fast anything
happens.
"""

import base64
import os
import re
import secrets
import socket
import warnings

import pytest

from ostia_harness import SmtpClient, unfinished_files, wait_until
from ostia_harness import queue_files as harness_queue_files

LOCAL = "127.0.0.1"     # the listener's address: permit_inet_interfaces
REMOTE = "127.0.0.2"    # loopback, but not an interface address

MYHOSTNAME = "mx.dom.example"
MYDOMAIN = "dom.example"
MYORIGIN = "origin.example"

OLD = "old@example.com"
NEW = "new@example.com"
KEEP = "keep@example.org"

QUEUED_RE = re.compile(r"\A2\.0\.0 Ok: queued as ([0-9A-HJKMNP-TV-Z]{16})\Z")
RECEIVED_RE = re.compile(rb"\AReceived: [^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*")

TEMPFAIL = (451, "4.3.0 Error: temporary lookup failure")


# ---------------------------------------------------------------- setup

def table_file(o, name, text, kind="texthash"):
    """A table in the configuration directory (root-owned, 0644: the owner
    rule of table files); returns "KIND:PATH"."""
    path = os.path.join(o.confdir, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return kind + ":" + path


def table_text(entries):
    return "".join("%s %s\n" % kv for kv in entries.items())


def start(factory, master_cf=None, tables=None, o=None, **params):
    """A started instance (o: one made already, else a new one from the
    ostia_factory fixture).  tables: {name: {key: value}} written as
    texthash files; a parameter value "@name@" becomes that table."""
    if o is None:
        o = factory(master_cf=master_cf) if master_cf else factory()
    main = {
        "myhostname": MYHOSTNAME,
        "mydomain": MYDOMAIN,
        "myorigin": MYORIGIN,
        "mynetworks": LOCAL + "/32",
        "relay_domains": "example.com, example.org, example.net",
        "smtpd_error_sleep_time": "0",
    }
    specs = {name: table_file(o, name, table_text(entries))
             for name, entries in (tables or {}).items()}
    for k, v in params.items():
        if isinstance(v, str):
            for name, spec in specs.items():
                v = v.replace("@%s@" % name, spec)
        main[k] = v
    o.update_main_cf(main)
    o.start_foreground()
    return o


def msg(*lines):
    """CRLF text of lines (a header block, "", a body) as bytes."""
    return ("\r\n".join(lines) + "\r\n").encode()


def std_headers(tag):
    """Message-ID and Date (present so that nothing needs adding) and a
    token that names the message in the queue."""
    return ["Message-ID: <%s@client.example>" % tag,
            "Date: Mon, 01 Jan 2024 00:00:00 +0000"]


def new_tag():
    return "hrw-" + secrets.token_hex(10)


# ---------------------------------------------------------------- SMTP

class Session:
    """One SMTP session from a loopback source address."""

    def __init__(self, o, source=LOCAL, service="smtp", nodelay=False):
        sock = socket.create_connection(("127.0.0.1", o.ports[service]),
                                        timeout=30,
                                        source_address=(source, 0))
        if nodelay:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(None)
        self.c = SmtpClient(sock, timeout=30.0)
        self.c.expect(220)
        self.c.command("EHLO client.example", expect=250)

    def auth_plain(self, user, password):
        tok = base64.b64encode(("\0%s\0%s" % (user, password)).encode())
        self.c.command("AUTH PLAIN " + tok.decode(), expect=235)

    def envelope(self, sender, rcpts):
        self.c.command("MAIL FROM:<%s>" % sender, expect=250)
        for r in rcpts:
            self.c.command("RCPT TO:<%s>" % r, expect=250)

    def data(self, text, pieces=None):
        """DATA, the message (in pieces of these sizes, cycled, when
        given), the dot; returns the final reply."""
        self.c.command("DATA", expect=354)
        wire = text + b".\r\n"
        if pieces is None:
            self.c.send_raw(wire)
        else:
            i = k = 0
            while i < len(wire):
                n = pieces[k % len(pieces)]
                self.c.send_raw(wire[i:i + n])
                i += n
                k += 1
        return self.c.read_reply()

    def bdat(self, chunks):
        """The message in BDAT chunks, the last one LAST; returns the
        final reply."""
        for i, chunk in enumerate(chunks):
            last = b" LAST" if i == len(chunks) - 1 else b""
            self.c.send_raw(b"BDAT %d%s\r\n" % (len(chunk), last) + chunk)
            r = self.c.read_reply()
            if i < len(chunks) - 1:
                assert r.code == 250, "BDAT chunk %d: %r" % (i, r)
        return r

    def close(self):
        try:
            self.c.command("QUIT")
        except (EOFError, OSError, AssertionError):
            pass
        self.c.close()


def send(o, text, sender=OLD, rcpts=(OLD,), source=LOCAL, service="smtp",
         auth=None):
    """One message by DATA in a new session; returns its queue ID (the
    final reply must say queued)."""
    s = Session(o, source, service)
    try:
        if auth:
            s.auth_plain(*auth)
        s.envelope(sender, rcpts)
        r = s.data(text)
    finally:
        s.close()
    return queued_id(r)


def queued_id(reply):
    m = QUEUED_RE.match(reply.text) if reply.code == 250 else None
    assert m, "not queued: %r" % reply
    return m.group(1)


# ---------------------------------------------------------------- queue

def queue_files(o):
    """{queue ID: path} of every committed queue file."""
    return harness_queue_files(o.queue_dir)


def read_records(path):
    """[(type, payload)] of a queue file: a type octet, a 4-octet
    big-endian length, the payload."""
    with open(path, "rb") as f:
        data = f.read()
    out, i = [], 0
    while i < len(data):
        assert i + 5 <= len(data), "%s: truncated at %d" % (path, i)
        n = int.from_bytes(data[i + 1:i + 5], "big")
        assert i + 5 + n <= len(data), "%s: truncated at %d" % (path, i)
        out.append((chr(data[i]), data[i + 5:i + 5 + n]))
        i += 5 + n
    return out


class Stored:
    """A queued message: sender, recipients, received (smtpd's Received:
    header, bytes) and rest (the message after it, bytes)."""

    def __init__(self, o, qid):
        path = wait_until(lambda: queue_files(o).get(qid), timeout=10,
                          what="queue file %s" % qid)
        recs = read_records(path)
        assert recs and recs[-1][0] == "X", "no X record last in %s" % path
        self.sender = [p.decode() for t, p in recs if t == "S"]
        self.rcpts = [p.decode() for t, p in recs if t == "R"]
        content = b"".join(p for t, p in recs if t == "D")
        m = RECEIVED_RE.match(content)
        assert m, "no Received: header first: %r" % content[:300]
        self.received = content[:m.end()]
        self.rest = content[m.end():]


def assert_same(got, expected):
    """Byte for byte, shown line by line on a failure."""
    if got != expected:
        assert got.split(b"\r\n") == expected.split(b"\r\n")
        assert got == expected


def stored(o, qid):
    return Stored(o, qid)


def assert_nothing_queued(o, tag):
    """No committed queue file holds tag, and the partial file goes (the
    queue process removes an uncommitted file when smtpd lets go of
    it)."""
    def holding():
        out = []
        for qid, path in queue_files(o).items():
            try:
                with open(path, "rb") as f:
                    if tag.encode() in f.read():
                        out.append(qid)
            except FileNotFoundError:
                pass
        return out
    assert holding() == [], "a refused message was queued"
    wait_until(lambda: unfinished_files(o.queue_dir) == [], timeout=30,
               what="no unfinished queue file (left: %r)"
               % unfinished_files(o.queue_dir))
    assert holding() == [], "a refused message was queued"


# ---------------------------------------------------------------- messages

# The main message: {A} marks each addr-spec the local client's message
# gets mapped (OLD -> NEW); every other OLD must stay as it is: in a
# quoted display name, in comments, in the Subject and other
# non-address headers, in the body, in MIME part headers and in the
# headers of an attached message/rfc822.
MAIN_TEMPLATE = "\r\n".join([
    'From: "Old Person (old@example.com)" <{A}>',
    'Sender: {A} (the old sender, not new@example.com)',
    'Reply-To: Team: {A}, keep@example.org;, Someone',
    ' <{A}>',
    'To: undisclosed-recipients:;',
    'Cc: keep@example.org,',
    '\t{A}  ,  "Name, with comma" <{A}>',
    '   (old@example.com is in a comment)',
    'Resent-From: <{A}>',
    'Resent-Sender: Old <{A}>',
    'Resent-To: keep@example.org, {A}',
    'Resent-Cc: Group Name: "a b" <{A}>, {A};',
    'Resent-Reply-To: {A}',
    'Resent-Date: Mon, 01 Jan 2024 00:00:00 +0000',
    'Resent-Message-ID: <resent.1@example.com>',
    'errors-to: {A}',
    'Disposition-Notification-To: <{A}>',
    'Subject: mail for old@example.com, To: old@example.com',
    'X-Not-An-Address-Header: old@example.com',
    'Comments: From: old@example.com',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    'preamble old@example.com',
    '--b1',
    'Content-Type: text/plain',
    'To: old@example.com',
    '',
    'To: old@example.com',
    'From: root',
    'Cc: old@example.com',
    '--b1',
    'Content-Type: message/rfc822',
    '',
    'From: old@example.com',
    'To: root, old@example.com',
    'Subject: inner',
    '',
    'inner body old@example.com',
    '--b1--',
    '',
])


def main_message(tag):
    """(sent, expected after local rewriting) bytes."""
    head = "\r\n".join(std_headers(tag)) + "\r\n"
    return ((head + MAIN_TEMPLATE.replace("{A}", OLD)).encode(),
            (head + MAIN_TEMPLATE.replace("{A}", NEW)).encode())


CANON = {"canon": {OLD: NEW}}


# ---------------------------------------------------------------- local

def test_local_client_headers_mapped_only_addr_specs_change(ostia_factory):
    o = start(ostia_factory, tables=CANON, canonical_maps="@canon@")
    sent, expected = main_message(new_tag())
    st = stored(o, send(o, sent, rcpts=(OLD,)))
    # The envelope is mapped as before.
    assert st.sender == [NEW]
    assert st.rcpts == [NEW]
    assert_same(st.rest, expected)


def test_local_client_completion_myorigin(ostia_factory):
    """append_at_myorigin (default yes): a bare local part gets
    @$myorigin; append_dot_mydomain (default no): user@host stays; the
    canonical mapping applies to the completed address."""
    o = start(ostia_factory, tables={"canon": {
        OLD: NEW, "postmaster@" + MYORIGIN: "pm@" + MYDOMAIN}},
        canonical_maps="@canon@")
    tag = new_tag()
    head = std_headers(tag)
    sent = msg(*head, "From: root",
               "Sender: Root User <root>",
               "To: user@host, other@host.example, \"x\" <u2@[192.0.2.1]>, "
               "bare",
               "Cc: (a comment) admin",
               "Reply-To: postmaster",
               "Subject: root", "", "From: root")
    expected = msg(*head, "From: root@" + MYORIGIN,
                   "Sender: Root User <root@%s>" % MYORIGIN,
                   "To: user@host, other@host.example, \"x\" "
                   "<u2@[192.0.2.1]>, bare@" + MYORIGIN,
                   "Cc: (a comment) admin@" + MYORIGIN,
                   "Reply-To: pm@" + MYDOMAIN,
                   "Subject: root", "", "From: root")
    st = stored(o, send(o, sent, rcpts=(KEEP,)))
    assert_same(st.rest, expected)


def test_local_client_append_dot_mydomain(ostia_factory):
    o = start(ostia_factory, append_dot_mydomain="yes")
    tag = new_tag()
    head = std_headers(tag)
    sent = msg(*head, "From: root",
               "To: user@host, other@host.example, \"x\" <u2@[192.0.2.1]>",
               "Cc: Some One <someone@server>",
               "Subject: user@host", "", "To: user@host")
    expected = msg(*head, "From: root@" + MYORIGIN,
                   "To: user@host.%s, other@host.example, \"x\" "
                   "<u2@[192.0.2.1]>" % MYDOMAIN,
                   "Cc: Some One <someone@server.%s>" % MYDOMAIN,
                   "Subject: user@host", "", "To: user@host")
    st = stored(o, send(o, sent, rcpts=(KEEP,)))
    assert_same(st.rest, expected)


# ---------------------------------------------------------------- remote

def remote_message(tag):
    return msg(*std_headers(tag), "From: root",
               "To: old@example.com, user@host",
               "Cc: Someone <helper>",
               "Subject: remote", "", "body")


def test_remote_client_headers_untouched_by_default(ostia_factory):
    """No remote_header_rewrite_domain: neither completion nor canonical
    mapping for a remote client's headers; its envelope is mapped."""
    o = start(ostia_factory, tables=CANON, canonical_maps="@canon@",
              append_dot_mydomain="yes")
    sent = remote_message(new_tag())
    st = stored(o, send(o, sent, rcpts=(OLD, KEEP), source=REMOTE))
    assert st.sender == [NEW]
    assert st.rcpts == [NEW, KEEP]
    assert_same(st.rest, sent)


def test_remote_client_with_remote_header_rewrite_domain(ostia_factory):
    """The remote context completes with $remote_header_rewrite_domain
    in place of both $myorigin and $mydomain (user ->
    user@example.net, user@host -> user@host.example.net with
    append_dot_mydomain), then the canonical mapping."""
    o = start(ostia_factory, tables={"canon": {
        OLD: NEW, "root@example.net": "postmaster@example.net"}},
        canonical_maps="@canon@", append_dot_mydomain="yes",
        remote_header_rewrite_domain="example.net")
    tag = new_tag()
    sent = remote_message(tag)
    expected = msg(*std_headers(tag), "From: postmaster@example.net",
                   "To: new@example.com, user@host.example.net",
                   "Cc: Someone <helper@example.net>",
                   "Subject: remote", "", "body")
    st = stored(o, send(o, sent, rcpts=(OLD,), source=REMOTE))
    assert st.sender == [NEW]
    assert st.rcpts == [NEW]
    assert_same(st.rest, expected)
    # A local client still gets the local context.
    st = stored(o, send(o, sent, rcpts=(KEEP,)))
    assert_same(st.rest, msg(*std_headers(tag), "From: root@" + MYORIGIN,
                             "To: new@example.com, user@host." + MYDOMAIN,
                             "Cc: Someone <helper@%s>" % MYORIGIN,
                             "Subject: remote", "", "body"))


# ------------------------------------------------ local_header_rewrite_clients

BOTH_NETS = "%s/32, %s/32" % (LOCAL, REMOTE)


@pytest.mark.parametrize("source,clients,mynetworks,rewritten", [
    # The default list names interface addresses only: a client in
    # mynetworks is not local because of that.
    (REMOTE, None, BOTH_NETS, False),
    (REMOTE, "permit_mynetworks", BOTH_NETS, True),
    (REMOTE, "permit_mynetworks", LOCAL + "/32", False),
    (REMOTE, "static:all", LOCAL + "/32", True),
    (REMOTE, "permit_inet_interfaces, permit_mynetworks", BOTH_NETS, True),
    # Never match: smtpd asks for no client certificate.
    (REMOTE, "permit_tls_clientcerts, permit_tls_all_clientcerts",
     BOTH_NETS, False),
    # The list replaces the default: 127.0.0.1 is local only through it.
    (LOCAL, "permit_mynetworks", REMOTE + "/32", False),
    (LOCAL, "permit_inet_interfaces", REMOTE + "/32", True),
], ids=["default-mynetworks-not-enough", "permit_mynetworks",
        "permit_mynetworks-not-listed", "static-all", "interfaces+mynetworks",
        "tls-clientcerts-never", "local-not-in-list", "local-interfaces"])
def test_local_header_rewrite_clients(ostia_factory, source, clients,
                                      mynetworks, rewritten):
    params = {"canonical_maps": "@canon@", "mynetworks": mynetworks}
    if clients is not None:
        params["local_header_rewrite_clients"] = clients
    o = start(ostia_factory, tables=CANON, **params)
    tag = new_tag()
    sent = remote_message(tag)
    st = stored(o, send(o, sent, rcpts=(OLD,), source=source))
    assert st.sender == [NEW]
    assert st.rcpts == [NEW]
    if rewritten:
        assert_same(st.rest, msg(*std_headers(tag),
                                 "From: root@" + MYORIGIN,
                                 "To: new@example.com, user@host",
                                 "Cc: Someone <helper@%s>" % MYORIGIN,
                                 "Subject: remote", "", "body"))
    else:
        assert_same(st.rest, sent)


def test_unknown_element_warns_and_does_not_match(ostia_factory):
    o = start(ostia_factory, tables=CANON, canonical_maps="@canon@",
              mynetworks=BOTH_NETS,
              local_header_rewrite_clients="bogus_hrw_element, "
              "permit_mynetworks")
    tag = new_tag()
    sent = remote_message(tag)
    st = stored(o, send(o, sent, rcpts=(KEEP,), source=REMOTE))
    # The rest of the list still works.
    assert_same(st.rest, msg(*std_headers(tag), "From: root@" + MYORIGIN,
                             "To: new@example.com, user@host",
                             "Cc: Someone <helper@%s>" % MYORIGIN,
                             "Subject: remote", "", "body"))
    o.wait_for_log(r"warning: .*bogus_hrw_element")


def test_permit_sasl_authenticated(ostia_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import crypt
        except ImportError:
            pytest.skip("python crypt module missing: no password hash "
                        "for the SASL table")
    user, password = "alice@example.org", "hrw secret 1"
    o = ostia_factory()
    pw = table_file(o, "passwords", "%s {SHA512-CRYPT}%s\n" % (
        user, crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))))
    o2 = start(None, o=o, tables=CANON, canonical_maps="@canon@",
               local_header_rewrite_clients="permit_sasl_authenticated",
               smtpd_sasl_auth_enable="yes", smtpd_sasl_type="ostia",
               smtpd_sasl_password_maps=pw, smtpd_tls_auth_only="no")
    tag = new_tag()
    sent = remote_message(tag)
    # Not authenticated: remote, untouched.
    st = stored(o2, send(o2, sent, rcpts=(KEEP,), source=REMOTE))
    assert_same(st.rest, sent)
    # Authenticated: local context.
    st = stored(o2, send(o2, sent, rcpts=(KEEP,), source=REMOTE,
                         auth=(user, password)))
    assert_same(st.rest, msg(*std_headers(tag), "From: root@" + MYORIGIN,
                             "To: new@example.com, user@host",
                             "Cc: Someone <helper@%s>" % MYORIGIN,
                             "Subject: remote", "", "body"))


# ---------------------------------------------------------------- classes

def classes_message(tag):
    return msg(*std_headers(tag), "From: Old <old@example.com>",
               "Sender: old@example.com",
               "To: old@example.com, keep@example.org",
               "Cc: <old@example.com>",
               "Reply-To: old@example.com",
               "Subject: classes", "", "body")


def classes_expected(tag, sender_side, rcpt_side):
    s = NEW if sender_side else OLD
    r = NEW if rcpt_side else OLD
    return msg(*std_headers(tag), "From: Old <%s>" % s,
               "Sender: " + s,
               "To: %s, keep@example.org" % r,
               "Cc: <%s>" % r,
               "Reply-To: " + r,
               "Subject: classes", "", "body")


@pytest.mark.parametrize("params,hdr_s,hdr_r,env_s,env_r", [
    ({"canonical_maps": "@canon@",
      "canonical_classes": "envelope_sender, envelope_recipient"},
     False, False, True, True),
    ({"canonical_maps": "@canon@",
      "canonical_classes": "header_sender, header_recipient"},
     True, True, False, False),
    ({"sender_canonical_maps": "@canon@"}, True, False, True, False),
    ({"recipient_canonical_maps": "@canon@"}, False, True, False, True),
    ({"sender_canonical_maps": "@canon@",
      "sender_canonical_classes": "envelope_sender"},
     False, False, True, False),
    ({"recipient_canonical_maps": "@canon@",
      "recipient_canonical_classes": "header_recipient"},
     False, True, False, False),
], ids=["canonical-envelope-only", "canonical-headers-only",
        "sender_canonical", "recipient_canonical",
        "sender_canonical-envelope-only", "recipient_canonical-header-only"])
def test_canonical_classes(ostia_factory, params, hdr_s, hdr_r, env_s,
                           env_r):
    o = start(ostia_factory, tables=CANON, **params)
    tag = new_tag()
    st = stored(o, send(o, classes_message(tag), rcpts=(OLD, KEEP)))
    assert st.sender == [NEW if env_s else OLD]
    assert st.rcpts == [NEW if env_r else OLD, KEEP]
    assert_same(st.rest, classes_expected(tag, hdr_s, hdr_r))


def test_sender_canonical_maps_win_over_canonical_maps(ostia_factory):
    o = start(ostia_factory, tables={
        "scanon": {OLD: "sender-new@example.com"},
        "canon": {OLD: NEW}},
        sender_canonical_maps="@scanon@", canonical_maps="@canon@")
    tag = new_tag()
    st = stored(o, send(o, classes_message(tag), rcpts=(OLD,)))
    assert st.sender == ["sender-new@example.com"]
    assert st.rcpts == [NEW]
    assert_same(st.rest, msg(*std_headers(tag),
                             "From: Old <sender-new@example.com>",
                             "Sender: sender-new@example.com",
                             "To: new@example.com, keep@example.org",
                             "Cc: <new@example.com>",
                             "Reply-To: new@example.com",
                             "Subject: classes", "", "body"))


def test_at_domain_result_keeps_the_local_part(ostia_factory):
    o = start(ostia_factory, tables={"canon": {"@example.com":
                                               "@moved.example"}},
              canonical_maps="@canon@")
    tag = new_tag()
    sent = msg(*std_headers(tag), "From: Al <al@example.com>",
               "To: bo@example.com, keep@example.org",
               "Subject: x", "", "body")
    st = stored(o, send(o, sent, sender="al@example.com",
                        rcpts=("bo@example.com",)))
    assert st.sender == ["al@moved.example"]
    assert st.rcpts == ["bo@moved.example"]
    assert_same(st.rest, msg(*std_headers(tag),
                             "From: Al <al@moved.example>",
                             "To: bo@moved.example, keep@example.org",
                             "Subject: x", "", "body"))


# ---------------------------------------------------------------- override

def test_no_address_mappings_keeps_completion(ostia_factory):
    master = ("127.0.0.1:@port:smtp@ inet n - n - 1 smtpd\n"
              "127.0.0.1:@port:reinject@ inet n - n - 1 smtpd\n"
              "  -o receive_override_options=no_address_mappings\n")
    o = start(ostia_factory, master_cf=master, tables=CANON,
              canonical_maps="@canon@")
    tag = new_tag()
    sent = msg(*std_headers(tag), "From: old@example.com", "To: root",
               "Cc: Old <old@example.com>", "Subject: reinjected", "",
               "body")
    st = stored(o, send(o, sent, rcpts=(OLD,), service="reinject"))
    assert st.sender == [OLD]
    assert st.rcpts == [OLD]
    assert_same(st.rest, msg(*std_headers(tag), "From: old@example.com",
                             "To: root@" + MYORIGIN,
                             "Cc: Old <old@example.com>",
                             "Subject: reinjected", "", "body"))
    # The ordinary listener maps.
    st = stored(o, send(o, sent, rcpts=(OLD,)))
    assert st.sender == [NEW]
    assert st.rcpts == [NEW]
    assert_same(st.rest, msg(*std_headers(tag), "From: new@example.com",
                             "To: root@" + MYORIGIN,
                             "Cc: Old <new@example.com>",
                             "Subject: reinjected", "", "body"))


# ---------------------------------------------------------------- failures

# A pcre table whose lookup fails at run time: catastrophic backtracking
# stops at PCRE2's match limit, a table failure (never "not found").
# The table compiles, so the start succeeds.
BACKTRACK = "/^(a+)+$/ never@example.com\n"
SLOW_ADDR = "a" * 40 + "@example.com"


def test_failing_header_lookup_refuses_the_message(ostia_factory):
    o = ostia_factory()
    canon = table_file(o, "canon.pcre", BACKTRACK, kind="pcre")
    o = start(None, o=o, canonical_maps=canon,
              canonical_classes="header_sender")
    tag = new_tag()
    sent = msg(*std_headers(tag), "From: Slow <%s>" % SLOW_ADDR,
               "To: old@example.com", "Subject: fails", "", "body")
    mark = o.log_mark()
    s = Session(o)
    try:
        # No envelope class: MAIL and RCPT are accepted.  The address
        # is only in the From: header, so the log line that names it is
        # about the header.
        s.envelope(OLD, (OLD,))
        r = s.data(sent)
        assert (r.code, r.text) == TEMPFAIL, r
        # The session goes on: a message without that address is queued.
        s.c.command("RSET", expect=250)
        s.envelope(OLD, (OLD,))
        ok = msg(*std_headers(tag + "-ok"), "From: old@example.com",
                 "To: keep@example.org", "Subject: fine", "", "body")
        qid = queued_id(s.data(ok))
    finally:
        s.close()
    assert_nothing_queued(o, tag + "@client")
    # old@example.com does not match the table: the header stays.
    assert_same(stored(o, qid).rest, ok)
    o.wait_for_log(r"^(?=.*%s)(?=.*(?i:fail|error)).*$"
                   % re.escape(SLOW_ADDR), start=mark)


def test_failing_header_lookup_with_bdat(ostia_factory):
    o = ostia_factory()
    canon = table_file(o, "canon.pcre", BACKTRACK, kind="pcre")
    o = start(None, o=o, canonical_maps=canon,
              canonical_classes="header_recipient")
    tag = new_tag()
    sent = msg(*std_headers(tag), "From: old@example.com",
               "To: x@example.org,", " Slow <%s>" % SLOW_ADDR,
               "Subject: fails", "", "body")
    s = Session(o)
    try:
        s.envelope(OLD, (OLD,))
        cut = sent.index(b"aaaa")
        r = s.bdat([sent[:cut], sent[cut:cut + 10], sent[cut + 10:]])
        assert (r.code, r.text) == TEMPFAIL, r
    finally:
        s.close()
    assert_nothing_queued(o, tag)


def test_no_header_lookup_without_a_header_class(ostia_factory):
    """With no header class on, the failing table is never asked about
    the header address: the message is queued, its headers as sent."""
    o = ostia_factory()
    canon = table_file(o, "canon.pcre", BACKTRACK, kind="pcre")
    o = start(None, o=o, canonical_maps=canon,
              canonical_classes="envelope_sender, envelope_recipient")
    tag = new_tag()
    sent = msg(*std_headers(tag), "From: Slow <%s>" % SLOW_ADDR,
               "To: %s, root" % SLOW_ADDR, "Subject: x", "", "body")
    st = stored(o, send(o, sent, rcpts=(OLD,)))
    assert_same(st.rest, msg(*std_headers(tag),
                             "From: Slow <%s>" % SLOW_ADDR,
                             "To: %s, root@%s" % (SLOW_ADDR, MYORIGIN),
                             "Subject: x", "", "body"))


# ---------------------------------------------------------------- transport

def test_bdat_header_split_across_chunks(ostia_factory):
    o = start(ostia_factory, tables=CANON, canonical_maps="@canon@")
    sent, expected = main_message(new_tag())
    cuts = sorted({
        sent.index(b"<old@exa") + 5,            # in From's address
        sent.index(b"\r\n <old@") + 1,          # between CR and LF
        sent.index(b"\r\n <old@") + 2,          # before a continuation
        sent.index(b"\r\n\told@") + 4,          # inside a folded address
        sent.index(b"Resent-Cc:") + 3,          # in a header name
        sent.index(b"\r\n\r\n") + 2,            # at the empty line
    })
    chunks = [sent[a:b] for a, b in zip([0] + cuts, cuts + [len(sent)])]
    assert b"".join(chunks) == sent
    s = Session(o)
    try:
        s.envelope(OLD, (OLD,))
        qid = queued_id(s.bdat(chunks))
    finally:
        s.close()
    st = stored(o, qid)
    assert (st.sender, st.rcpts) == ([NEW], [NEW])
    assert_same(st.rest, expected)


def test_data_in_tiny_pieces(ostia_factory):
    o = start(ostia_factory, tables=CANON, canonical_maps="@canon@")
    sent, expected = main_message(new_tag())
    s = Session(o, nodelay=True)
    try:
        s.envelope(OLD, (OLD,))
        qid = queued_id(s.data(sent, pieces=(1, 2, 3, 5, 7, 1, 1)))
    finally:
        s.close()
    assert_same(stored(o, qid).rest, expected)


def test_many_addresses(ostia_factory):
    n = 300
    addrs = ["u%03d@example.com" % i for i in range(n)]
    mapped = ["m%03d@example.com" % i if i % 2 == 0 else addrs[i]
              for i in range(n)]
    table = {addrs[i]: mapped[i] for i in range(0, n, 2)}
    table["old@example.com"] = "new@example.com"
    o = start(ostia_factory, tables={"canon": table},
              canonical_maps="@canon@")

    def to_header(lst):
        lines = []
        for i in range(0, n, 6):
            lines.append(", ".join(lst[i:i + 6]))
        return ["To: " + (",\r\n ".join(lines))]

    tag = new_tag()
    sent = msg(*std_headers(tag), "From: old@example.com", *to_header(addrs),
               "Subject: many", "", "body")
    expected = msg(*std_headers(tag), "From: new@example.com",
                   *to_header(mapped), "Subject: many", "", "body")
    st = stored(o, send(o, sent, rcpts=(KEEP,)))
    assert_same(st.rest, expected)


def test_more_than_1000_addresses_are_bounded(ostia_factory):
    """At most 1000 distinct addresses are looked up per message; the
    others stay as they are, with a warning; the message is queued."""
    n = 1100
    addrs = ["u%04d@example.com" % i for i in range(n)]
    o = start(ostia_factory, tables={"canon": {
        a: "m" + a[1:] for a in addrs}}, canonical_maps="@canon@")
    tag = new_tag()
    lines = [", ".join(addrs[i:i + 6]) for i in range(0, n, 6)]
    sent = msg(*std_headers(tag), "From: keep@example.org",
               "To: " + ",\r\n ".join(lines), "Subject: too many", "",
               "body")
    mark = o.log_mark()
    st = stored(o, send(o, sent, rcpts=(KEEP,)))
    head, _, body = st.rest.partition(b"\r\n\r\n")
    assert body == b"body\r\n"
    to = re.search(rb"^To: (.*?)\r\n(?=[^ \t])", head, re.M | re.S)
    assert to, head[:300]
    got = to.group(1).split(b",\r\n ")
    got = [a for line in got for a in line.split(b", ")]
    assert len(got) == n
    mapped = [i for i, a in enumerate(got) if a.startswith(b"m")]
    # From: counts as one of the 1000 looked up when the count includes
    # it (it is not in the table).
    assert len(mapped) in (999, 1000), len(mapped)
    for i, a in enumerate(got):
        want = ("m" if i in mapped else "u") + addrs[i][1:]
        assert a == want.encode(), (i, a)
    o.wait_for_log(r"warning: .*(?i:limit|1000|too many)", start=mark)


# ---------------------------------------------------------------- checks

def test_header_checks_see_the_original_headers(ostia_factory):
    o = ostia_factory()
    hc = table_file(o, "header_checks", (
        "/^From:.*old@example\\.com/ PREPEND X-Seen-Old-From: yes\n"
        "/^From:.*new@example\\.com/ PREPEND X-Seen-New-From: yes\n"
        "/^To:.*old@example\\.com/ WARN original To seen\n"
        "/^Cc:.*new@example\\.com/ REJECT rewritten Cc seen\n"), kind="pcre")
    o = start(None, o=o, tables=CANON, canonical_maps="@canon@",
              header_checks=hc)
    tag = new_tag()
    sent = msg(*std_headers(tag), "From: Old <old@example.com>",
               "To: old@example.com", "Cc: old@example.com",
               "Subject: checks", "", "body")
    mark = o.log_mark()
    st = stored(o, send(o, sent, rcpts=(KEEP,)))
    assert_same(st.rest, msg(*std_headers(tag), "X-Seen-Old-From: yes",
                             "From: Old <new@example.com>",
                             "To: new@example.com", "Cc: new@example.com",
                             "Subject: checks", "", "body"))
    o.wait_for_log(r": warning: header To: old@example\.com from "
                   r".*: original To seen$", start=mark)


# ---------------------------------------------------------------- masquerading

MASQ = {"masquerade_domains": "!keep.example.com, example.com",
        "masquerade_exceptions": "root"}


def masq_message(tag):
    return msg(*std_headers(tag),
               "From: Joe <joe@host.example.com>",
               "Sender: root@host.example.com",
               "To: bob@mx.a.example.com, keep@example.org",
               "Cc: ann@x.keep.example.com, joe@example.com",
               "Subject: joe@host.example.com", "",
               "body joe@host.example.com")


def test_masquerade_default_classes(ostia_factory):
    """masquerade_domains with the default masquerade_classes: the
    envelope sender and the header addresses lose their host part, the
    envelope recipient keeps it; the '!' entry and the exception keep
    theirs; the Subject and the body are not addresses."""
    o = start(ostia_factory, **MASQ)
    tag = new_tag()
    st = stored(o, send(o, masq_message(tag), sender="joe@host.example.com",
                        rcpts=("bob@mx.a.example.com",)))
    assert st.sender == ["joe@example.com"]
    assert st.rcpts == ["bob@mx.a.example.com"]
    assert_same(st.rest, msg(*std_headers(tag),
                             "From: Joe <joe@example.com>",
                             "Sender: root@host.example.com",
                             "To: bob@example.com, keep@example.org",
                             "Cc: ann@x.keep.example.com, joe@example.com",
                             "Subject: joe@host.example.com", "",
                             "body joe@host.example.com"))


def test_masquerade_envelope_recipient_class(ostia_factory):
    o = start(ostia_factory, masquerade_classes="envelope_recipient",
              **MASQ)
    tag = new_tag()
    sent = masq_message(tag)
    st = stored(o, send(o, sent, sender="joe@host.example.com",
                        rcpts=("bob@mx.a.example.com", "root@h.example.com",
                               "ann@x.keep.example.com")))
    assert st.sender == ["joe@host.example.com"]
    assert st.rcpts == ["bob@example.com", "root@h.example.com",
                        "ann@x.keep.example.com"]
    assert_same(st.rest, sent)


def test_masquerade_after_canonical_and_remote_clients(ostia_factory):
    """The canonical result is masqueraded; a remote client's envelope
    sender is masqueraded too, its headers are not touched (no
    remote_header_rewrite_domain)."""
    o = start(ostia_factory, tables={"canon": {OLD: "new@box.example.com"}},
              canonical_maps="@canon@", **MASQ)
    tag = new_tag()
    sent = msg(*std_headers(tag), "From: old@example.com",
               "To: x@h.example.com", "Subject: s", "", "b")
    st = stored(o, send(o, sent, sender=OLD, rcpts=(KEEP,)))
    assert st.sender == [NEW]
    assert_same(st.rest, msg(*std_headers(tag), "From: new@example.com",
                             "To: x@example.com", "Subject: s", "", "b"))
    st = stored(o, send(o, sent, sender="a@b.example.com", rcpts=(KEEP,),
                        source=REMOTE))
    assert st.sender == ["a@example.com"]
    assert_same(st.rest, sent)


def test_masquerade_off_with_no_address_mappings(ostia_factory):
    master = ("127.0.0.1:@port:smtp@ inet n - n - 1 smtpd\n"
              "127.0.0.1:@port:reinject@ inet n - n - 1 smtpd\n"
              "  -o receive_override_options=no_address_mappings\n")
    o = start(ostia_factory, master_cf=master, **MASQ)
    tag = new_tag()
    sent = masq_message(tag)
    st = stored(o, send(o, sent, sender="joe@host.example.com",
                        rcpts=(KEEP,), service="reinject"))
    assert st.sender == ["joe@host.example.com"]
    assert_same(st.rest, sent)


def test_masquerade_unusable_settings_fail_closed(ostia_factory):
    """A masquerade_classes value Ostia does not know: MAIL gets 451 and
    the log names the setting; nothing goes through unmasqueraded."""
    o = start(ostia_factory, masquerade_domains="example.com",
              masquerade_classes="envelope_sender, everything")
    mark = o.log_mark()
    s = Session(o)
    try:
        r = s.c.command("MAIL FROM:<joe@host.example.com>")
        assert (r.code, r.text) == TEMPFAIL, r
    finally:
        s.close()
    o.wait_for_log(r'masquerade_classes: unknown class "everything"',
                   start=mark)


# ------------------------------------------------------- missing headers

MISSING_DATE_RE = re.compile(
    rb"Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), [ 0-9]?\d (Jan|Feb|Mar|Apr|May|"
    rb"Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d [+-]\d{4}"
    rb"(?: \([^)]*\))?")


def added_headers(o, qid, sent_head, body=b"body\r\n"):
    """The stored message is sent_head (header lines), the fields smtpd
    added, the separator and body: return the added lines."""
    st = stored(o, qid)
    assert st.rest.startswith(sent_head), st.rest[:400]
    assert st.rest.endswith(b"\r\n" + body), st.rest[-200:]
    return st.rest[len(sent_head):-len(b"\r\n" + body)].split(b"\r\n")[:-1]


def test_missing_headers_added_for_local_clients(ostia_factory):
    """A local client's message without From:, Date: and Message-ID:
    (a script talking SMTP to the local server) gets them at the end of
    its header block, as Postfix's cleanup adds them: From: the envelope
    sender, the current date, and a Message-ID from the queue ID and
    myhostname.  A remote client's message is left as it is."""
    o = start(ostia_factory)
    tag = new_tag()
    head = msg("Subject: " + tag, "To: keep@example.org")[:-2]
    sent = head + b"\r\n\r\nbody\r\n"
    qid = send(o, sent, sender="script@example.net", rcpts=(KEEP,))
    lines = added_headers(o, qid, head + b"\r\n")
    assert len(lines) == 3, lines
    assert lines[0] == b"From: <script@example.net>", lines
    assert MISSING_DATE_RE.fullmatch(lines[1]), lines
    assert re.fullmatch(rb"Message-ID: <\d{14}\.%s@%s>"
                        % (qid.encode(), MYHOSTNAME.encode()), lines[2]), \
        lines
    # Only what is missing (names in any case); the null sender.
    head2 = msg("subject: " + tag, "MESSAGE-ID: <%s@client.example>" % tag,
                "date: Mon, 01 Jan 2024 00:00:00 +0000")[:-2] + b"\r\n"
    qid2 = send(o, head2 + b"\r\nbody\r\n", sender="", rcpts=(KEEP,))
    assert added_headers(o, qid2, head2) == \
        [b"From: MAILER-DAEMON@" + MYHOSTNAME.encode()]
    # A message being re-sent (a Resent- field): the Resent- variants,
    # as Postfix adds them; its own From:/Date: stay as they are.
    head4 = msg("From: <orig@example.org>", "Date: Mon, 01 Jan 2024 "
                "00:00:00 +0000", "Resent-To: <keep@example.org>",
                "Resent-Date: Tue, 02 Jan 2024 00:00:00 +0000",
                "Subject: " + tag)[:-2] + b"\r\n"
    qid4 = send(o, head4 + b"\r\nbody\r\n", sender="again@example.net",
                rcpts=(KEEP,))
    lines = added_headers(o, qid4, head4)
    assert len(lines) == 2 and lines[0] == \
        b"Resent-From: <again@example.net>", lines
    assert re.fullmatch(rb"Resent-Message-ID: <\d{14}\.%s@%s>"
                        % (qid4.encode(), MYHOSTNAME.encode()), lines[1]), \
        lines
    # A remote client: untouched.
    sent3 = msg("Subject: " + tag, "", "body")
    st = stored(o, send(o, sent3, rcpts=(KEEP,), source=REMOTE))
    assert_same(st.rest, sent3)


def test_always_add_missing_headers_for_remote_clients(ostia_factory):
    """always_add_missing_headers = yes: a remote client's message gets
    them too; its header addresses are still not rewritten (no
    remote_header_rewrite_domain)."""
    o = start(ostia_factory, always_add_missing_headers="yes")
    head = msg("To: bare", "Subject: " + new_tag())[:-2] + b"\r\n"
    qid = send(o, head + b"\r\nbody\r\n", sender="far@example.net",
               rcpts=(KEEP,), source=REMOTE)
    lines = added_headers(o, qid, head)
    assert [line.split(b":")[0] for line in lines] == \
        [b"From", b"Date", b"Message-ID"], lines
