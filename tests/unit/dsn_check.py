#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""dsn_check - read a notice made by dsn_build() back with Python's email
package and check it against a list of expectations.

    dsn_check.py NOTICE EXPECT

Run by tests/unit/test_dsn.c.  NOTICE is the message as bytes.  EXPECT
has one expectation per line, fields separated by tabs; in each field a
backslash escapes \\\\ \\t \\r \\n.  Values of header fields are compared
unfolded (CRLF before white space removed).

    header NAME VALUE         top-level header field equals VALUE
    header-match NAME REGEX   ... matches REGEX (re.fullmatch)
    report-type VALUE         multipart/report report-type parameter
    parts T1 T2 T3            content types of the three parts
    charset VALUE             charset of part 1
    cte-top VALUE             top-level Content-Transfer-Encoding
    permsg NAME VALUE         per-message field of the report
    permsg-absent NAME
    nrcpts N                  per-recipient blocks in the report
    rcpt I NAME VALUE         field of recipient block I (from 0)
    rcpt-absent I NAME
    orig-header NAME VALUE    header of the attached message/rfc822
    orig-body VALUE           its body, exactly (CRLF line ends)
    orig-headers VALUE        text/rfc822-headers part content, exactly
    text SUBSTR               part 1 contains SUBSTR (white space runs
                              compared as one space)
    no-text SUBSTR            ... does not contain it

Always checked: CRLF line ends only, no line over 998 octets, a
well-formed multipart/report of exactly three parts without parser
defects, a parseable Date, a Message-ID, and the RFC 3464 required
fields (Reporting-MTA; per recipient Final-Recipient, Action, Status).

Exit status 0 when everything holds; 1 with one line per failure; 2 for
a usage error.
"""
import email
import email.header
import email.utils
import re
import sys
from email import policy

failures = []


def fail(msg):
    failures.append(msg)


def unescape(s):
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r", "t": "\t"}.get(
        m.group(1), m.group(1)), s)


def unfold(v):
    if isinstance(v, email.header.Header):
        v = str(v)
    return re.sub(r"\r?\n(?=[ \t])", "", v)


def squash(s):
    return " ".join(s.split())


def header_block(raw):
    """The top-level header fields of raw bytes, decoded as UTF-8."""
    end = raw.find(b"\r\n\r\n")
    text = raw[:end if end >= 0 else len(raw)].decode("utf-8", "replace")
    fields = {}
    for f in re.split(r"\r\n(?![ \t])", text):
        name, _, value = f.partition(":")
        fields.setdefault(name.lower(), []).append(unfold(value).strip())
    return fields


def parse_blocks(text):
    """Blocks of "Name: value" fields separated by empty lines (used for
    message/global-delivery-status, which Python does not split)."""
    blocks = []
    for chunk in re.split(r"\r?\n\r?\n", text.strip("\r\n")):
        fields = {}
        for f in re.split(r"\r?\n(?![ \t])", chunk):
            name, _, value = f.partition(":")
            fields.setdefault(name.lower(), []).append(unfold(value).strip())
        blocks.append(fields)
    return blocks


def msg_blocks(msgs):
    blocks = []
    for m in msgs:
        fields = {}
        for name, value in m.items():
            fields.setdefault(name.lower(), []).append(unfold(value).strip())
        blocks.append(fields)
    return blocks


def get1(fields, name, where):
    vals = fields.get(name.lower(), [])
    if len(vals) != 1:
        fail("%s: %d %s fields, want 1" % (where, len(vals), name))
        return None
    return vals[0]


def main():
    if len(sys.argv) != 3:
        print("usage: dsn_check.py NOTICE EXPECT", file=sys.stderr)
        return 2
    with open(sys.argv[1], "rb") as f:
        raw = f.read()
    with open(sys.argv[2], encoding="utf-8") as f:
        expect = [[unescape(x) for x in line.rstrip("\n").split("\t")]
                  for line in f if line.strip()]

    # Line ends and lengths, on the bytes.
    for i, line in enumerate(raw.split(b"\r\n")):
        if b"\n" in line:
            fail("line %d: bare LF" % (i + 1))
        if len(line) > 998:
            fail("line %d: %d octets" % (i + 1, len(line)))
    if not raw.endswith(b"\r\n"):
        fail("the notice does not end with CRLF")

    top = header_block(raw)
    msg = email.message_from_bytes(raw, policy=policy.compat32)
    if msg.defects:
        fail("top-level defects: %r" % msg.defects)
    if msg.get_content_type() != "multipart/report":
        fail("content type %s" % msg.get_content_type())
        return report()
    parts = msg.get_payload()
    if not isinstance(parts, list) or len(parts) != 3:
        fail("want 3 parts, got %r" % (len(parts) if isinstance(parts, list)
                                       else parts[:80]))
        return report()
    for i, p in enumerate(parts):
        if p.defects:
            fail("part %d defects: %r" % (i + 1, p.defects))
    date = get1(top, "Date", "header")
    if date is not None:
        try:
            if email.utils.parsedate_to_datetime(date) is None:
                fail("Date does not parse: %r" % date)
        except (TypeError, ValueError):
            fail("Date does not parse: %r" % date)
    mid = get1(top, "Message-ID", "header")
    if mid is not None and not re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", mid):
        fail("Message-ID %r" % mid)

    # The report: Python splits message/delivery-status into blocks of
    # fields itself; the global variant is split here.
    rep = parts[1]
    payload = rep.get_payload()
    if rep.get_content_type() == "message/delivery-status":
        if not isinstance(payload, list):
            fail("delivery-status not parsed into blocks")
            return report()
        blocks = msg_blocks(payload)
    else:
        body = raw.split(b"\r\n--" + msg.get_boundary().encode())[2]
        body = body.split(b"\r\n\r\n", 1)[1]
        blocks = parse_blocks(body.decode("utf-8"))
    permsg, rcpts = blocks[0], blocks[1:]
    get1(permsg, "Reporting-MTA", "per-message")
    for i, b in enumerate(rcpts):
        for name in ("Final-Recipient", "Action", "Status"):
            get1(b, name, "recipient %d" % i)

    text_part = parts[0]
    text = text_part.get_payload(decode=True).decode(
        text_part.get_content_charset() or "us-ascii")

    for e in expect:
        what, args = e[0], e[1:]
        try:
            check(what, args, top, msg, parts, permsg, rcpts, text)
        except (IndexError, ValueError, KeyError) as ex:
            fail("%s %r: %s" % (what, args, ex))
    return report()


def check(what, args, top, msg, parts, permsg, rcpts, text):
    if what == "header":
        v = get1(top, args[0], "header")
        if v is not None and v != args[1]:
            fail("header %s: %r, want %r" % (args[0], v, args[1]))
    elif what == "header-match":
        v = get1(top, args[0], "header")
        if v is not None and not re.fullmatch(args[1], v):
            fail("header %s: %r does not match %r" % (args[0], v, args[1]))
    elif what == "report-type":
        v = msg.get_param("report-type")
        if v != args[0]:
            fail("report-type %r, want %r" % (v, args[0]))
    elif what == "parts":
        got = [p.get_content_type() for p in parts]
        if got != args[0].split():
            fail("parts %r, want %r" % (got, args[0].split()))
    elif what == "charset":
        v = parts[0].get_content_charset()
        if v != args[0]:
            fail("charset %r, want %r" % (v, args[0]))
    elif what == "cte-top":
        v = get1(top, "Content-Transfer-Encoding", "header")
        if v != args[0]:
            fail("top Content-Transfer-Encoding %r, want %r" % (v, args[0]))
    elif what == "permsg":
        v = get1(permsg, args[0], "per-message")
        if v is not None and v != args[1]:
            fail("per-message %s: %r, want %r" % (args[0], v, args[1]))
    elif what == "permsg-absent":
        if args[0].lower() in permsg:
            fail("per-message %s present" % args[0])
    elif what == "nrcpts":
        if len(rcpts) != int(args[0]):
            fail("%d recipient blocks, want %s" % (len(rcpts), args[0]))
    elif what == "rcpt":
        i = int(args[0])
        v = get1(rcpts[i], args[1], "recipient %d" % i)
        if v is not None and v != args[2]:
            fail("recipient %d %s: %r, want %r" % (i, args[1], v, args[2]))
    elif what == "rcpt-absent":
        i = int(args[0])
        if args[1].lower() in rcpts[i]:
            fail("recipient %d: %s present" % (i, args[1]))
    elif what == "orig-header":
        sub = parts[2].get_payload()
        if not isinstance(sub, list) or len(sub) != 1:
            fail("part 3 is not one attached message")
            return
        v = sub[0].get_all(args[0]) or []
        if [unfold(x) for x in v] != [args[1]]:
            fail("original %s: %r, want %r" % (args[0], v, args[1]))
    elif what == "orig-body":
        sub = parts[2].get_payload()
        if not isinstance(sub, list) or len(sub) != 1:
            fail("part 3 is not one attached message")
            return
        body = sub[0].get_payload()
        if body != args[0]:
            fail("original body %r, want %r" % (body[:200], args[0][:200]))
    elif what == "orig-headers":
        v = parts[2].get_payload(decode=True)
        if v != args[0].encode("utf-8", "surrogateescape"):
            fail("part 3 %r, want %r" % (v[:300], args[0][:300]))
    elif what == "text":
        if squash(args[0]) not in squash(text):
            fail("part 1 lacks %r" % args[0])
    elif what == "no-text":
        if squash(args[0]) in squash(text):
            fail("part 1 has %r" % args[0])
    else:
        fail("unknown expectation %r" % what)


def report():
    for f in failures:
        print("dsn_check: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
