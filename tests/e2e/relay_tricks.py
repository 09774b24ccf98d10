# SPDX-License-Identifier: MIT
"""The relay tricks: recipient forms with which a client that may not
relay tries to get mail to a domain that is not ours anyway.

Data only (no pytest, no ostia): tests/e2e/14-policy runs them against
smtpd; `ostia route` tests may reuse them.  Each Trick has

  id        a short name for test ids
  path      what follows "RCPT TO:" (angle brackets included when the
            form has them); "{dom}" is replaced by one of our domains
            (a mydestination domain or a virtual mailbox domain), so the
            trick is tried against every kind of domain we host
  names     the address forms a reply or a log line may name for it, as
            Postfix and Ostia print them (the path without the angle
            brackets, with the source route dropped, with the trailing
            dot dropped); matched case-insensitively
  syntax    True when the SMTP server may refuse the form as bad syntax
            (501 5.1.3) before any routing: also not a relay, but a
            different reply
  needs     what the configuration must provide for the trick to mean
            what it says ("inet_interfaces=127.0.0.1": the address
            literal of our own interface)

Where the destination really is (after Postfix's rewriting: percent
hack, bang path swap, quoted local parts looked into, source route
dropped, one trailing dot dropped, case folded): elsewhere.example, an
address literal that is not ours, or a domain we do not host.  None of
them may be accepted from a client that is neither in mynetworks nor
authenticated.
"""

ELSEWHERE = "elsewhere.example"


class Trick:
    def __init__(self, id_, path, names=None, syntax=False, needs=None,
                 note=""):
        self.id = id_
        self.path = path
        inner = path[1:-1] if path.startswith("<") and path.endswith(">") \
            else path
        self.names = list(names) if names else [inner]
        if inner not in self.names:
            self.names.insert(0, inner)
        self.syntax = syntax
        self.needs = needs
        self.note = note

    def uses_domain(self):
        return "{dom}" in self.path

    def expand(self, dom):
        """(path, names) with {dom} replaced."""
        return (self.path.replace("{dom}", dom),
                [n.replace("{dom}", dom) for n in self.names])

    def __repr__(self):
        return "Trick(%s: %s)" % (self.id, self.path)


TRICKS = [
    Trick("plain", "<user@elsewhere.example>"),
    Trick("upper-case", "<USER@ELSEWHERE.EXAMPLE>"),
    Trick("mixed-case", "<User@ElseWhere.Example>"),
    Trick("no-brackets", "user@elsewhere.example",
          note="strict_rfc821_envelopes = no accepts it"),
    Trick("trailing-dot", "<user@elsewhere.example.>",
          names=["user@elsewhere.example"], syntax=True,
          note="Postfix drops the dot; Ostia's parser may refuse it"),
    Trick("postmaster-remote", "<postmaster@elsewhere.example>",
          note="postmaster is exempt only in our own domains"),
    Trick("percent-hack", "<user%elsewhere.example@{dom}>"),
    Trick("percent-hack-twice",
          "<user%elsewhere.example%{dom}@{dom}>"),
    Trick("percent-hack-bare", "<user%elsewhere.example>", syntax=True,
          note="Postfix adds @$myorigin, then the percent hack; Ostia's "
          "parser may refuse an address without a domain"),
    Trick("bang-path", "<elsewhere.example!user@{dom}>"),
    Trick("bang-path-bare", "<elsewhere.example!user>", syntax=True,
          note="Postfix adds @$myorigin, then the bang path swap; Ostia's "
          "parser may refuse an address without a domain"),
    Trick("quoted-at", '<"user@elsewhere.example"@{dom}>'),
    Trick("quoted-percent", '<"user%elsewhere.example"@{dom}>'),
    Trick("quoted-bang", '<"elsewhere.example!user"@{dom}>'),
    Trick("unquoted-double-at", "<user@elsewhere.example@{dom}>",
          syntax=True),
    Trick("source-route", "<@{dom}:user@elsewhere.example>",
          names=["user@elsewhere.example"]),
    Trick("source-route-two-hops",
          "<@{dom},@mx.{dom}:user@elsewhere.example>",
          names=["user@elsewhere.example"]),
    Trick("literal-remote", "<user@[192.0.2.1]>"),
    Trick("literal-loopback-not-ours", "<user@[127.0.0.3]>",
          needs="inet_interfaces=127.0.0.1",
          note="127.0.0.3 is loopback but not one of our interfaces"),
    Trick("literal-ipv6", "<user@[IPv6:2001:db8::1]>"),
    Trick("percent-hack-at-own-literal",
          "<user%elsewhere.example@[127.0.0.1]>",
          needs="inet_interfaces=127.0.0.1",
          note="[127.0.0.1] is ours (local), the percent hack is not"),
    Trick("our-domain-as-prefix", "<user@{dom}.elsewhere.example>"),
    Trick("subdomain-not-hosted", "<user@sub.{dom}>",
          note="not ours unless relay_domains matches subdomains"),
]


def expanded(domains, tricks=None):
    """[(test id, Trick, path, names)] for every trick, those with
    {dom} once per domain in domains."""
    out = []
    for t in tricks or TRICKS:
        if t.uses_domain():
            for d in domains:
                path, names = t.expand(d)
                out.append(("%s@%s" % (t.id, d), t, path, names))
        else:
            out.append((t.id, t, t.path, list(t.names)))
    return out
