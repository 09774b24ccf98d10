# SPDX-License-Identifier: MIT
"""TLS session resumption with the session cache parameters of Debian's
default main.cf.

- smtp_tls_session_cache_database (client): A's smtp agent keeps the
  session B gave it and resumes it on its next connection to B (level
  may; A keeps no SMTP connection open between messages); B logs the
  second TLS connection "(resumed)", and so does A.  Without the
  parameter there is no resumption.
- smtpd_tls_session_cache_database (server): a client without tickets
  (openssl s_client -no_ticket, TLS 1.2) resumes by session ID; without
  the parameter only tickets resume.
The smtp and smtpd services run one process each here: the caches are
in each process's memory.
"""

import os
import re
import shutil
import subprocess

import pytest

from delivery_e2e import token
from outbound_e2e import MX_HOSTS, REMOTE, b_receiver, message_for, mx_zone

BOB = "bob@" + REMOTE


def tls_b(ostia_factory, certs, port, **params):
    b = b_receiver(ostia_factory, mailboxes=(BOB,))
    b.params.update({
        "smtpd_tls_cert_file": certs.leaf_chain,
        "smtpd_tls_key_file": certs.leaf_key,
        "smtpd_tls_security_level": "may",
        "smtpd_tls_loglevel": "1",
    })
    b.params.update(params)
    b.listeners.append("%s:%d inet n - n - 1 smtpd\n" % (MX_HOSTS["mx1"],
                                                       port))
    return b.start()


def two_messages(mta, srv, port, b, **params):
    a = mta("a.ostia.test").use_dns(srv, port)
    a.smtp_service = "smtp unix - - n - 1 smtp\n"
    a.params.update({"smtp_tls_security_level": "may",
                     "smtp_connection_cache_on_demand": "no"})
    a.params.update(params)
    a.start()
    for i in range(2):
        tok = token()
        a.send(BOB, message_for(tok, BOB))
        b.wait_messages(BOB, 1, tok)
    a.wait_queue_empty()
    return a


def established(o, direction):
    return re.findall(r"TLS connection established %s .*" % direction,
                      o.o.log_text())


@pytest.mark.parametrize("cache", [True, False])
def test_client_resumes_with_session_cache(mta, ostia_factory, dns, certs,
                                           port, cache):
    srv = dns({REMOTE: mx_zone()})
    b = tls_b(ostia_factory, certs, port)
    params = {"smtp_tls_session_cache_database":
              "btree:${data_directory}/smtp_scache"} if cache else {}
    a = two_messages(mta, srv, port, b, **params)
    got_b = established(b, "from")
    got_a = established(a, "to")
    assert len(got_b) == 2 and len(got_a) == 2, (got_a, got_b, a.diag())
    assert not got_b[0].endswith("(resumed)"), got_b
    if cache:
        assert got_b[1].endswith("(resumed)"), (got_b, b.diag())
        assert got_a[1].endswith("(resumed)"), (got_a, a.diag())
    else:
        assert not any(l.endswith("(resumed)") for l in got_b), got_b


def s_client(port, sess, out):
    args = ["openssl", "s_client", "-connect", "127.0.0.2:%d" % port,
            "-starttls", "smtp", "-tls1_2", "-no_ticket",
            "-sess_out" if out else "-sess_in", sess]
    r = subprocess.run(args, input=b"QUIT\r\n", capture_output=True,
                       timeout=30)
    return r.stdout.decode("utf-8", "replace")


@pytest.mark.parametrize("cache", [True, False])
def test_server_session_ids_with_session_cache(ostia_factory, certs, port,
                                               tmp_path, cache):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    params = {"smtpd_tls_session_cache_database":
              "btree:${data_directory}/smtpd_scache"} if cache else {}
    b = tls_b(ostia_factory, certs, port, **params)
    sess = os.path.join(str(tmp_path), "sess.pem")
    first = s_client(port, sess, True)
    assert "New, TLSv1.2" in first, first
    second = s_client(port, sess, False)
    if cache:
        assert "Reused, TLSv1.2" in second, (second, b.diag())
        assert established(b, "from")[-1].endswith("(resumed)")
    else:
        # No session ID to resume: s_client has nothing to offer, or a
        # full handshake follows.
        assert "Reused" not in second, second
        assert not any(l.endswith("(resumed)")
                       for l in established(b, "from")), b.diag()
