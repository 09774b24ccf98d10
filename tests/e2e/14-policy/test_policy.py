# SPDX-License-Identifier: MIT
"""check_policy_service (issue 7, item 4) with the test policy server
tests/e2e/policy_server.py (helper "policy"): greylisting and per-sender
rate limiting the way postgrey and iRedAPD do, the attributes Ostia
sends, connection reuse, the server down or hanging (a temporary
failure unless default_action says otherwise), and the policy service in
smtpd_end_of_data_restrictions.

The greylisting and rate-limit cases use the seed's
smtpd_recipient_restrictions with the policy server where the seed has
iRedAPD (after reject_unlisted_recipient, before permit_mynetworks).

Without tests/e2e/policy_server.py every test that needs it is skipped,
saying so.  Its API (PolicyServer.start(mode=..., ...), .address,
.requests() with "_conn" per request, .close()) is used through the
`policy` fixture below only.
"""

import os
import re
import ssl

import pytest

from ostia_harness import free_port
from policy_e2e import (ELSEWHERE, HOSTED, OUTSIDER, SIMPLE, Setup,
                        Smtp, assert_no_data, assert_nothing_new, assert_reply,
                        hosting, password_table, queue_files, queued_id,
                        reject_logged, seed, send_message)

try:
    import policy_server
    _IMPORT_ERROR = None
except ImportError as e:        # not written yet, or broken
    policy_server = None
    _IMPORT_ERROR = e

# ---------------------------------------------------------------- replies
ACCEPT = "250 2.1.5 Ok"
GREYLISTED = re.compile(r"\A45\d 4\.\d+\.\d+ .*Greylist", re.I)
# The policy service cannot answer (down, hung, broken): Postfix 3.x
# says "451 4.3.5 Server configuration problem" (some versions put
# "<rcpt>: Recipient address rejected: " before the text).
POLICY_FAILED = re.compile(r"\A451 4\.3\.5 (<[^>]*>: Recipient address "
                           r"rejected: )?Server configuration problem\Z")
# A fixed REJECT at end of data: Postfix's form, or without the
# "<END-OF-MESSAGE>: End-of-data rejected: " words.
EOD_REJECT = ("554 5.7.1 <END-OF-MESSAGE>: End-of-data rejected: {text}",
              "554 5.7.1 {text}")
REFUSED = re.compile(r"\A[45]\d\d ")

# Attributes every request carries (SMTPD_POLICY_README), values possibly
# empty.
REQUIRED_KEYS = ["request", "protocol_state", "protocol_name", "helo_name",
                 "queue_id", "sender", "recipient", "recipient_count",
                 "client_address", "client_name", "reverse_client_name",
                 "instance", "sasl_method", "sasl_username", "size",
                 "encryption_protocol", "encryption_cipher",
                 "encryption_keysize"]

ALICE = "alice@" + HOSTED
BOB = "bob@" + HOSTED
SOMEONE = "someone@" + ELSEWHERE


# ---------------------------------------------------------------- server

def _need_server():
    if policy_server is None:
        pytest.skip("tests/e2e/policy_server.py is not there (helper "
                    "\"policy\" writes it): %s" % _IMPORT_ERROR)


class Policy:
    """A started policy_server.PolicyServer: address, requests(),
    wait_requests(n), connections() (the distinct "_conn" numbers)."""

    def __init__(self, **settings):
        self.srv = policy_server.PolicyServer.start(**settings)
        self.address = self.srv.address

    def requests(self):
        return self.srv.requests()

    def wait_requests(self, n):
        return self.srv.wait_requests(n)

    def connections(self):
        return sorted({r["_conn"] for r in self.requests()})

    def close(self):
        self.srv.close()


@pytest.fixture
def policy():
    """make(mode, **settings) -> started Policy; closed at teardown."""
    _need_server()
    made = []

    def make(mode, **settings):
        p = Policy(mode=mode, **settings)
        made.append(p)
        return p
    yield make
    for p in made:
        p.close()


def closed_port_endpoint():
    return "inet:127.0.0.1:%d" % free_port()


def seed_with_policy(factory, endpoint, **params):
    s = seed(Setup(factory), dns=False, policy=[endpoint])
    s.update(params)
    return s.start()


def plain_with(factory, restrictions_param, value, **params):
    """Our domains, mynetworks 127.0.0.1/32, one restriction list."""
    s = hosting(Setup(factory), mynetworks="127.0.0.1/32")
    s.update({restrictions_param: value})
    s.update(params)
    return s.start()


def one_rcpt(o, rcpt, sender=SOMEONE, source=OUTSIDER, timeout=None):
    s = Smtp(o, source=source, timeout=timeout or 15.0)
    s.ehlo()
    assert s.mail(sender).code == 250
    r = s.rcpt("<%s>" % rcpt)
    return s, r


# ---------------------------------------------------------------- greylisting

def test_greylisting_first_attempt_deferred_retry_accepted(ostia_factory,
                                                            policy):
    p = policy("greylist", delay=0)
    o = seed_with_policy(ostia_factory, p.address)
    before = queue_files(o)
    mark = o.log_mark()
    s, r = one_rcpt(o, ALICE)
    assert_reply(r, GREYLISTED, "first attempt")
    assert_no_data(s)
    s.quit()
    assert_nothing_new(o, before, "greylisted")
    reject_logged(o, mark, "RCPT", OUTSIDER, r, [ALICE])
    # The retry of the same triplet passes.
    s, r = one_rcpt(o, ALICE)
    assert_reply(r, ACCEPT, "retry")
    r, final = s.data()
    assert r.code == 354
    queued_id(final)
    s.quit()
    # Another triplet is greylisted on its own.
    s, r = one_rcpt(o, BOB)
    assert_reply(r, GREYLISTED, "new triplet")
    s.quit()
    assert len(p.requests()) >= 3


# ---------------------------------------------------------------- rate limit

def test_rate_limit_per_sender(ostia_factory, policy):
    limit = 2
    p = policy("ratelimit", limit=limit, unit="messages")
    o = seed_with_policy(ostia_factory, p.address)
    s = Smtp(o, source=OUTSIDER)
    s.ehlo()
    for i in range(limit):
        send_message(s, SOMEONE, ["<%s>" % ALICE])
    before = queue_files(o)
    assert s.mail(SOMEONE).code == 250
    r = s.rcpt("<%s>" % ALICE)
    assert_reply(r, REFUSED, "message %d of %s" % (limit + 1, SOMEONE))
    s.rset()
    # Another sender has its own budget.
    send_message(s, "other@" + ELSEWHERE, ["<%s>" % ALICE])
    s.quit()
    assert len(set(queue_files(o)) - set(before)) == 1


# ---------------------------------------------------------------- attributes

def attrs_setup(factory, endpoint, **params):
    """Our domains, AUTH (smtpd_sasl_type = ostia), the policy service
    first in smtpd_recipient_restrictions; returns the Setup."""
    s = hosting(Setup(factory), mynetworks="127.0.0.1/32")
    s.update({
        "smtpd_recipient_restrictions": "check_policy_service %s, "
        "permit_sasl_authenticated, reject_unauth_destination" % endpoint,
        "smtpd_sasl_auth_enable": "yes",
        "smtpd_sasl_type": "ostia",
        "smtpd_sasl_password_maps": password_table(s),
    })
    s.update(params)
    return s


def attrs_server(factory, endpoint, **params):
    return attrs_setup(factory, endpoint, **params).start()


def test_request_attributes(ostia_factory, policy):
    p = policy("fixed", action="DUNNO")
    o = attrs_server(ostia_factory, p.address)
    s = Smtp(o, source=OUTSIDER)
    # The port the server sees is this socket's own.
    port = str(s.c.sock.getsockname()[1])
    s.ehlo("client.helo.example")
    s.auth(ALICE)
    assert s.mail(ALICE, " SIZE=1234").code == 250
    assert_reply(s.rcpt("<user@%s>" % ELSEWHERE), ACCEPT)
    assert_reply(s.rcpt("<%s>" % BOB), ACCEPT)
    r, final = s.data()
    queued_id(final)
    # A second message in the same session.
    send_message(s, ALICE, ["<%s>" % BOB])
    s.quit()
    reqs = [r for r in p.wait_requests(3) if r.get("protocol_state") == "RCPT"]
    assert len(reqs) == 3, reqs
    for r in reqs:
        missing = [k for k in REQUIRED_KEYS if k not in r]
        assert not missing, "missing attributes %s in %r" % (missing, r)
        assert r["request"] == "smtpd_access_policy"
        assert r["protocol_name"] == "ESMTP"
        assert r["client_address"] == OUTSIDER
        assert r.get("client_port") == port, r
        assert r["helo_name"] == "client.helo.example"
        assert r["sender"] == ALICE
        assert r["sasl_username"] == ALICE
        assert r["sasl_method"] == "PLAIN"
        assert r["encryption_protocol"] == ""
    assert [r["recipient"] for r in reqs] == ["user@" + ELSEWHERE, BOB, BOB]
    assert reqs[0]["size"] == "1234" and reqs[1]["size"] == "1234"
    assert reqs[0]["instance"] and \
        reqs[0]["instance"] == reqs[1]["instance"], reqs
    assert reqs[2]["instance"] != reqs[0]["instance"], reqs


def test_request_attributes_unauthenticated(ostia_factory, policy):
    p = policy("fixed", action="DUNNO")
    o = attrs_server(ostia_factory, p.address)
    s, r = one_rcpt(o, ALICE)
    assert_reply(r, ACCEPT)
    s.quit()
    req = p.wait_requests(1)[-1]
    assert req["sasl_username"] == "" and req["sender"] == SOMEONE
    assert req["recipient"] == ALICE and req["protocol_state"] == "RCPT"


def with_tls(setup):
    """STARTTLS offered (smtpd_tls_security_level = may) with a fresh
    certificate inside the instance's (world-traversable) directory;
    skips without python3-cryptography."""
    try:
        import tls_certs
    except ImportError as e:
        pytest.skip("tls_certs needs python3-cryptography: %s" % e)
    certs = tls_certs.make_certs(os.path.join(setup.dir, "certs"))
    setup.update({"smtpd_tls_security_level": "may",
                  "smtpd_tls_cert_file": certs.leaf_chain,
                  "smtpd_tls_key_file": certs.leaf_key})
    return setup


def tls_session(o):
    """A session from OUTSIDER after EHLO, STARTTLS (no certificate
    check) and EHLO again."""
    s = Smtp(o, source=OUTSIDER)
    s.ehlo()
    assert s.cmd("STARTTLS").code == 220
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s.c.starttls(ctx)
    s.ehlo()
    return s


def test_encryption_attributes_under_tls(ostia_factory, policy):
    p = policy("fixed", action="DUNNO")
    o = with_tls(attrs_setup(ostia_factory, p.address)).start()
    s = tls_session(o)
    assert s.mail(SOMEONE).code == 250
    assert_reply(s.rcpt("<%s>" % ALICE), ACCEPT)
    version = s.c.sock.version()
    s.quit()
    req = p.wait_requests(1)[-1]
    assert req["encryption_protocol"] == version, req
    assert req["encryption_cipher"], req
    assert int(req["encryption_keysize"]) > 0, req


def test_reject_plaintext_session(ostia_factory):
    """reject_plaintext_session refuses a request of a session without
    TLS with plaintext_reject_code (here 550: 5.7.1) and lets the same
    request through once the client used STARTTLS."""
    setup = with_tls(hosting(Setup(ostia_factory),
                             mynetworks="127.0.0.1/32"))
    setup.update({"smtpd_recipient_restrictions":
                  "reject_plaintext_session, reject_unauth_destination",
                  "plaintext_reject_code": "550"})
    o = setup.start()
    s = Smtp(o, source=OUTSIDER)
    s.ehlo()
    assert s.mail(SOMEONE).code == 250
    r = s.rcpt("<%s>" % ALICE)
    assert r.code == 550 and r.text.startswith("5.7.1 ") and \
        "Session encryption is required" in r.text, r
    s.quit()
    s = tls_session(o)
    assert s.mail(SOMEONE).code == 250
    assert_reply(s.rcpt("<%s>" % ALICE), ACCEPT)
    s.quit()


# ---------------------------------------------------------------- connections

def test_connection_reuse(ostia_factory, policy):
    """Many requests (three messages, two recipients each) go over one
    connection to the policy server."""
    p = policy("fixed", action="DUNNO")
    o = attrs_server(ostia_factory, p.address)
    s = Smtp(o, source=OUTSIDER)
    s.ehlo()
    for _ in range(3):
        send_message(s, SOMEONE, ["<%s>" % ALICE, "<%s>" % BOB])
    s.quit()
    p.wait_requests(6)
    assert len(p.connections()) == 1, p.connections()


def test_policy_server_down_is_temporary(ostia_factory):
    """Nothing listens: 451 4.3.5, even with a permit after it; nothing
    queued; a warning names the service.  (Needs no policy server.)"""
    endpoint = closed_port_endpoint()
    o = plain_with(ostia_factory, "smtpd_recipient_restrictions",
                   "check_policy_service %s, permit" % endpoint)
    before = queue_files(o)
    mark = o.log_mark()
    s, r = one_rcpt(o, ALICE, timeout=60)
    assert_reply(r, POLICY_FAILED, "policy service down")
    assert_no_data(s)
    s.quit()
    assert_nothing_new(o, before)
    o.wait_for_log(r"warning: .*%s" % re.escape(endpoint.split(":", 1)[1]),
                   start=mark)


def test_policy_server_outage_and_recovery(ostia_factory, policy):
    """The server goes away between two messages: the next recipient gets
    the temporary failure (the stale connection is not an answer); back
    on the same address, mail is accepted again without restarting
    Ostia."""
    p = policy("fixed", action="DUNNO")
    o = plain_with(ostia_factory, "smtpd_recipient_restrictions",
                   "check_policy_service %s, permit_mynetworks, "
                   "reject_unauth_destination" % p.address)
    s, r = one_rcpt(o, ALICE)
    assert_reply(r, ACCEPT, "before the outage")
    s.quit()
    p.srv.stop()
    s, r = one_rcpt(o, ALICE, timeout=60)
    assert_reply(r, POLICY_FAILED, "during the outage")
    s.quit()
    p.srv.start()
    s, r = one_rcpt(o, ALICE, timeout=60)
    assert_reply(r, ACCEPT, "after the outage")
    s.quit()


def test_policy_server_down_default_action_dunno(ostia_factory):
    """Postfix 3 per-service settings: default_action=DUNNO lets the rest
    of the list decide."""
    endpoint = closed_port_endpoint()
    o = plain_with(ostia_factory, "smtpd_recipient_restrictions",
                   "check_policy_service { %s, default_action=DUNNO }, "
                   "permit_mynetworks, reject_unauth_destination" % endpoint)
    s, r = one_rcpt(o, ALICE, timeout=60)
    assert_reply(r, ACCEPT, "default_action=DUNNO")
    s.quit()
    # ... and the relay check still applies after it.
    s, r = one_rcpt(o, "user@" + ELSEWHERE, timeout=60)
    assert_reply(r, REFUSED, "relay after default_action=DUNNO")
    s.quit()


def test_policy_server_hangs_timeout(ostia_factory, policy):
    """A server that never answers: after timeout=2s (per service) a
    temporary failure, not an accept and not a hang."""
    p = policy("hang")
    o = plain_with(ostia_factory, "smtpd_recipient_restrictions",
                   "check_policy_service { %s, timeout=2s }, permit"
                   % p.address, smtpd_policy_service_try_limit="1")
    before = queue_files(o)
    s, r = one_rcpt(o, ALICE, timeout=60)
    assert_reply(r, POLICY_FAILED, "policy service hangs")
    s.quit()
    assert_nothing_new(o, before)


# ---------------------------------------------------------------- end of data

def test_end_of_data_policy(ostia_factory, policy):
    """smtpd_end_of_data_restrictions: protocol_state END-OF-MESSAGE, the
    real size (not MAIL FROM's SIZE=), the recipient count."""
    p = policy("fixed", action="DUNNO")
    o = plain_with(ostia_factory, "smtpd_end_of_data_restrictions",
                   "check_policy_service " + p.address)
    s = Smtp(o, source=OUTSIDER)
    s.ehlo()
    assert s.mail(SOMEONE, " SIZE=99999").code == 250
    assert_reply(s.rcpt("<%s>" % ALICE), ACCEPT)
    assert_reply(s.rcpt("<%s>" % BOB), ACCEPT)
    r, final = s.data()
    qid = queued_id(final)
    s.quit()
    eod = [r for r in p.wait_requests(1)
           if r.get("protocol_state") == "END-OF-MESSAGE"]
    assert len(eod) == 1, p.requests()
    req = eod[0]
    assert req["size"] != "99999", req
    assert abs(int(req["size"]) - len(SIMPLE)) <= 4096, (req, len(SIMPLE))
    assert req["recipient_count"] == "2", req
    assert req["sender"] == SOMEONE
    assert qid in queue_files(o)


def test_end_of_data_policy_reject(ostia_factory, policy):
    p = policy("fixed", action="REJECT not this message")
    o = plain_with(ostia_factory, "smtpd_end_of_data_restrictions",
                   "check_policy_service " + p.address)
    before = queue_files(o)
    s = Smtp(o, source=OUTSIDER)
    s.ehlo()
    assert s.mail(SOMEONE).code == 250
    assert_reply(s.rcpt("<%s>" % ALICE), ACCEPT)
    r, final = s.data()
    assert r.code == 354, r
    assert_reply(final, EOD_REJECT, "end of data", text="not this message")
    s.quit()
    assert_nothing_new(o, before)


def test_unix_socket_endpoint(ostia_factory, policy):
    """check_policy_service unix:/path."""
    setup = hosting(Setup(ostia_factory), mynetworks="127.0.0.1/32")
    p = policy("fixed", action="REJECT via unix",
               unix_path=os.path.join(setup.o.tmpdir, "policy.sock"))
    setup.update({"smtpd_recipient_restrictions":
                  "check_policy_service %s, permit" % p.address})
    o = setup.start()
    s, r = one_rcpt(o, ALICE)
    assert_reply(r, "554 5.7.1 <{rcpt}>: Recipient address rejected: "
                 "via unix", rcpt=ALICE)
    s.quit()
    assert p.requests()[-1]["recipient"] == ALICE
