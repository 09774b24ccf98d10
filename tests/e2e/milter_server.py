# SPDX-License-Identifier: MIT
"""A scriptable Milter for the tests, on libmilter (Debian's
python3-milter, pymilter): a real libmilter peer, so what Ostia sends
and what it carries out is checked against the library every filter
in the field uses.

    /usr/bin/python3 milter_server.py PORT RECORD_FILE [quiet]

"quiet" negotiates no replies to most events and a macro list of its
own for MAIL (QuietMilter below).

What it does is chosen by the message (so one filter serves every
test):

  MAIL FROM:<discard@...>        DISCARD at MAIL
  RCPT TO:<NAME+reject@...>      REJECT at RCPT
  RCPT TO:<NAME+tempfail@...>    TEMPFAIL at RCPT
  RCPT TO:<NAME+custom@...>      reply "550 5.7.0 custom says no"
  Subject: reject                REJECT at the end of the message
  Subject: edit-headers          add X-Milter-Added, insert X-Milter-First
                                 at 0, change Subject, delete X-Remove
  Subject: edit-envelope         add <alice@hosted.example>, remove
                                 <bob@hosted.example>, sender
                                 <changed@elsewhere.example>
  Subject: replace-body          body becomes "Replaced." CRLF
  Subject: quarantine            quarantine "looks suspicious"
  Subject: slow                  no reply for 10 seconds at the end

Every callback appends one JSON line to RECORD_FILE: the event, its
arguments, the macros the filter could read then (i, j, {daemon_name},
{auth_authen}, {mail_addr}, {rcpt_addr}, {client_addr}).
"""

import json
import sys
import time

import Milter

MACROS = ("i", "j", "{daemon_name}", "{auth_authen}", "{mail_addr}",
          "{rcpt_addr}", "{client_addr}", "_")


class TestMilter(Milter.Base):
    record_file = None

    def __init__(self):
        self.subject = ""
        self.bodybuf = b""

    def rec(self, event, **kw):
        kw["event"] = event
        kw["macros"] = {m: self.getsymval(m) for m in MACROS
                        if self.getsymval(m) is not None}
        with open(TestMilter.record_file, "a", encoding="utf-8") as f:
            f.write(json.dumps(kw) + "\n")

    def connect(self, hostname, family, hostaddr):
        self.rec("connect", hostname=hostname,
                 addr=hostaddr[0] if hostaddr else None)
        return Milter.CONTINUE

    def hello(self, heloname):
        self.rec("helo", helo=heloname)
        return Milter.CONTINUE

    def envfrom(self, mailfrom, *params):
        self.rec("mail", sender=mailfrom, params=list(params))
        self.subject = ""
        self.bodybuf = b""
        if mailfrom.lower().startswith("<discard@"):
            return Milter.DISCARD
        return Milter.CONTINUE

    def envrcpt(self, to, *params):
        self.rec("rcpt", rcpt=to)
        lower = to.lower()
        if "+reject@" in lower:
            return Milter.REJECT
        if "+tempfail@" in lower:
            return Milter.TEMPFAIL
        if "+custom@" in lower:
            self.setreply("550", "5.7.0", "custom says no")
            return Milter.REJECT
        return Milter.CONTINUE

    def header(self, name, value):
        self.rec("header", name=name, value=value)
        if name.lower() == "subject":
            self.subject = value.strip()
        return Milter.CONTINUE

    def eoh(self):
        self.rec("eoh")
        return Milter.CONTINUE

    def body(self, chunk):
        self.bodybuf += chunk
        return Milter.CONTINUE

    def eom(self):
        self.rec("eom", body=self.bodybuf.decode("latin-1"))
        subj = self.subject
        if subj == "reject":
            return Milter.REJECT
        if subj == "edit-headers":
            self.addheader("X-Milter-Added", "yes")
            self.addheader("X-Milter-First", "top", 0)
            self.chgheader("Subject", 1, "changed by the filter")
            self.chgheader("X-Remove", 1, "")
        elif subj == "edit-envelope":
            self.addrcpt("<alice@hosted.example>")
            self.delrcpt("<bob@hosted.example>")
            self.chgfrom("<changed@elsewhere.example>")
        elif subj == "replace-body":
            self.replacebody(b"Replaced.\r\n")
        elif subj == "quarantine":
            self.quarantine("looks suspicious")
        elif subj == "slow":
            time.sleep(10)
        return Milter.ACCEPT

    def abort(self):
        self.rec("abort")
        return Milter.CONTINUE

    def close(self):
        return Milter.CONTINUE


class QuietMilter(TestMilter):
    """The same filter, negotiating the protocol steps a busy filter
    asks for: no replies to connect, HELO, headers, end of headers and
    body chunks (the MTA must not wait for them), no DATA event, and its
    own macro list for MAIL (SETSYMLIST)."""

    @Milter.noreply
    def connect(self, hostname, family, hostaddr):
        return TestMilter.connect(self, hostname, family, hostaddr)

    @Milter.noreply
    def hello(self, heloname):
        return TestMilter.hello(self, heloname)

    def negotiate(self, opts):
        # As Milter.Base.negotiate, with the MAIL macro list set here:
        # Debian's pymilter 1.0.5 passes bytes where its C part wants a
        # str, so its @symlist fails.
        self._actions, p = opts[0], opts[1]
        self._ctx.setsymlist(Milter.M_ENVFROM, "{mail_addr} {client_addr}")
        opts[1] = self._protocol = p & ~self.protocol_mask()
        opts[2] = opts[3] = 0
        return Milter.CONTINUE

    @Milter.noreply
    def header(self, name, value):
        return TestMilter.header(self, name, value)

    @Milter.noreply
    def eoh(self):
        return TestMilter.eoh(self)

    @Milter.noreply
    def body(self, chunk):
        return TestMilter.body(self, chunk)

    @Milter.nocallback
    def data(self):
        return Milter.CONTINUE


def main():
    port, TestMilter.record_file = int(sys.argv[1]), sys.argv[2]
    quiet = len(sys.argv) > 3 and sys.argv[3] == "quiet"
    Milter.factory = QuietMilter if quiet else TestMilter
    Milter.set_flags(Milter.ADDHDRS | Milter.CHGHDRS | Milter.ADDRCPT |
                     Milter.DELRCPT | Milter.CHGBODY | Milter.QUARANTINE |
                     Milter.CHGFROM | Milter.SETSYMLIST)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    Milter.runmilter("ostia-test", "inet:%d@127.0.0.1" % port, 30)


if __name__ == "__main__":
    main()
