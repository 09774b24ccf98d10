# SPDX-License-Identifier: MIT
"""default_destination_rate_delay / TRANSPORT_destination_rate_delay:
deliveries to one destination go one at a time, each at least the delay
after the end of the one before (Postfix's queue manager rule), while
the messages wait in the queue manager; a destination of another
transport is not held back.

Against a scripted LMTP server (delivery_e2e.LmtpServer).  The check is
on the agent's log times: the gaps may be longer on a busy machine,
never shorter.
"""

import re
from datetime import datetime

from delivery_e2e import LMTP_DOMAIN, VDOMAIN, make_message, token

A = "a@" + LMTP_DOMAIN
LOG_TIME = r"^\w{3} +\d+ (\d\d:\d\d:\d\d\.\d+) \S+ ostia/lmtp\[\d+\]: "


def sent_times(d, rcpt):
    times = []
    for m in re.finditer(LOG_TIME + r"\w+: to=<%s>.*status=sent"
                         % re.escape(rcpt), d.o.log_text(), re.M):
        times.append(datetime.strptime(m.group(1), "%H:%M:%S.%f"))
    return times


def test_rate_delay_spaces_deliveries(delivery, lmtp_server):
    srv = lmtp_server()
    d = delivery()
    d.route(LMTP_DOMAIN, "lmtp:" + srv.nexthop)
    d.params["lmtp_destination_rate_delay"] = "2s"
    d.params["lmtp_destination_concurrency_limit"] = "5"
    d.start()
    tok = token()
    for i in range(3):
        d.send(A, make_message("%s-%d" % (tok, i), to=A))
    # The virtual transport has no delay: its mail is not held back.
    d.send("alice@" + VDOMAIN, make_message(tok + "-v", to="alice@" +
                                            VDOMAIN))
    d.wait_messages("alice@" + VDOMAIN, 1, tok + "-v")
    assert srv.delivered(A) <= 1, srv.describe()
    srv.wait(lambda s: s.delivered(A) >= 3, "three deliveries",
             timeout=60, diag=d.diag)
    d.wait_queue_empty()
    d.wait_log(r"to=<%s>.*status=sent" % re.escape(A))
    times = sent_times(d, A)
    assert len(times) == 3, d.diag()
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
    # Each delivery starts 2 s after the end of the one before: the
    # log line of the next is later than that.
    assert all(g >= 1.9 for g in gaps), (gaps, d.diag())
