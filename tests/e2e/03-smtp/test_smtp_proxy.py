# SPDX-License-Identifier: MIT
"""smtpd_upstream_proxy_protocol = haproxy: smtpd behind a load balancer.

Each connection starts with a PROXY protocol header (version 1 text or
version 2 binary) that names the client; the session then uses that
client's address and port everywhere: the "connect from" log line, the
queue file's client (shown by `ostia queue show`) and the Received:
header.  A LOCAL / UNKNOWN header (the balancer's health check) keeps
the connection's own address.  A header that comes in pieces is still
read.  A connection without a valid header, or whose header does not
come within smtpd_upstream_proxy_timeout, is logged with the reason
and closed without any reply.  (The implicit-TLS case, where the TLS
hello follows the header at once: 05-tls.)
"""

import re
import socket
import struct
import time

from ostia_harness import SmtpClient
from smtp_e2e import (SIMPLE, SMTPD, expect_reply, queue_show, quit_,
                      send_message)

PROXY = {"smtpd_upstream_proxy_protocol": "haproxy",
         "smtpd_upstream_proxy_timeout": "2s"}
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_tcp6(src, sport, dst, dport):
    body = (socket.inet_pton(socket.AF_INET6, src) +
            socket.inet_pton(socket.AF_INET6, dst) +
            struct.pack("!HH", sport, dport))
    return V2_SIG + b"\x21\x21" + struct.pack("!H", len(body)) + body


def connect(o, header, pieces=1):
    s = socket.create_connection(("127.0.0.1", o.port), timeout=10)
    step = max(1, len(header) // pieces)
    for i in range(0, len(header), step):
        s.sendall(header[i:i + step])
        if pieces > 1:
            time.sleep(0.1)
    return s


def test_v1_header_names_the_client(smtpd):
    o = smtpd(dict(PROXY, mynetworks="127.0.0.0/8 203.0.113.0/24"))
    # The access policy sees the client the header names: one outside
    # mynetworks may not relay...
    s = connect(o, b"PROXY TCP4 198.51.100.9 192.0.2.25 40000 25\r\n")
    c = SmtpClient(s)
    expect_reply(c, 220)
    c.send_line("EHLO client.example")
    expect_reply(c, 250)
    c.send_line("MAIL FROM:<sender@example.org>")
    expect_reply(c, 250, "2.1.0")
    c.send_line("RCPT TO:<rcpt@example.net>")
    expect_reply(c, 454, "4.7.1", text="Relay access denied")
    quit_(c)
    # ... one inside may.
    s = connect(o, b"PROXY TCP4 203.0.113.7 192.0.2.25 40001 25\r\n")
    c = SmtpClient(s)
    expect_reply(c, 220)
    c.send_line("EHLO client.example")
    expect_reply(c, 250)
    qid = send_message(c, SIMPLE)
    quit_(c)
    o.wait_for_log(SMTPD + r"connect from unknown\[203\.0\.113\.7\]")
    o.wait_for_log(SMTPD + qid + r": client=unknown\[203\.0\.113\.7\]")
    shown = queue_show(o, qid)
    assert shown.get("client") == "unknown[203.0.113.7]", shown.env
    assert b"[203.0.113.7]" in shown.message.split(b"\r\n\r\n")[0], \
        shown.message[:400]


def test_v2_header_in_pieces(smtpd):
    o = smtpd(PROXY)
    s = connect(o, v2_tcp6("2001:db8::7", 40002, "2001:db8::25", 25),
                pieces=3)
    c = SmtpClient(s)
    expect_reply(c, 220)
    c.send_line("EHLO client.example")
    expect_reply(c, 250)
    quit_(c)
    o.wait_for_log(SMTPD + r"connect from unknown\[2001:db8::7\]")


def test_health_check_keeps_the_real_address(smtpd):
    o = smtpd(PROXY)
    s = connect(o, V2_SIG + b"\x20\x00\x00\x00")     # LOCAL
    c = SmtpClient(s)
    expect_reply(c, 220)
    quit_(c)
    s = connect(o, b"PROXY UNKNOWN\r\n")
    c = SmtpClient(s)
    expect_reply(c, 220)
    quit_(c)
    log = o.log_text()
    assert len(re.findall(SMTPD + r"connect from unknown\[127\.0\.0\.1\]",
                          log)) == 2, log


def closed_without_reply(s):
    s.settimeout(10)
    data = b""
    while True:
        try:
            chunk = s.recv(4096)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def test_no_header_is_refused_without_a_reply(smtpd):
    o = smtpd(PROXY)
    s = connect(o, b"EHLO client.example\r\n")
    assert closed_without_reply(s) == b""
    o.wait_for_log(r"warning: .*no valid PROXY protocol header from "
                   r"127\.0\.0\.1: no PROXY protocol header")
    # A bad v1 header: the reason is named.
    s = connect(o, b"PROXY TCP4 203.0.113.7 192.0.2.25 99999 25\r\n")
    assert closed_without_reply(s) == b""
    o.wait_for_log(r"no valid PROXY protocol header from 127\.0\.0\.1: "
                   r"a version 1 header with a bad port")
    assert not re.search(r"connect from \S*\[203\.0\.113\.7\]",
                         o.log_text())


def test_header_timeout(smtpd):
    o = smtpd(PROXY)
    s = connect(o, b"PROXY TCP4 203.0.")       # and then nothing
    assert closed_without_reply(s) == b""
    o.wait_for_log(r"no valid PROXY protocol header from 127\.0\.0\.1: it "
                   r"did not come within smtpd_upstream_proxy_timeout")


def test_off_by_default(smtpd):
    o = smtpd()
    s = connect(o, b"")
    c = SmtpClient(s)
    expect_reply(c, 220)
    c.send_line("PROXY TCP4 203.0.113.7 192.0.2.25 40001 25")
    expect_reply(c, 502, "5.5.2")
    quit_(c)
