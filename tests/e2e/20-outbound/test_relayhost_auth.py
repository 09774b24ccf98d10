# SPDX-License-Identifier: MIT
"""Relay through a provider: A sends everything to relayhost =
[127.0.0.1]:SUBPORT, the submission service of B (an Ostia whose
accounts are in a SHA512-CRYPT password table, smtpd_sasl_type =
ostia, that relays or delivers only for authenticated clients), with
smtp_sasl_auth_enable and smtp_sasl_password_maps on A.

- The right password: delivered (B logs the SASL login).
- A wrong password: deferred with B's 535 reply, nothing delivered.
- smtp_sasl_security_options = noanonymous, noplaintext (and
  smtp_sasl_tls_security_options = noanonymous) to a server without
  TLS: the password is not sent; deferred with words saying why.
- The same with TLS (smtp_tls_security_level = encrypt,
  smtp_sasl_tls_security_options = noanonymous): delivered.
- AUTH LOGIN when a server offers only LOGIN (a scripted peer).
The password never appears in A's log.
"""

import re
import warnings

import pytest

from delivery_e2e import SENDER, settle, token
from ostia_harness import free_port
from outbound_e2e import REMOTE, b_receiver, message_for

USER = "alice@example.org"
PASSWORD = "s3cret-Pa55w0rd"
BOB = "bob@" + REMOTE


def provider(ostia_factory, certs=None):
    b = b_receiver(ostia_factory, hostname="smtp.provider.test")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
        hashed = crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_SHA512))
    b.params.update({
        "smtpd_sasl_type": "ostia",
        "smtpd_sasl_password_maps": b.table(
            "passwords", {USER: "{SHA512-CRYPT}" + hashed}),
    })
    if certs is not None:
        b.params.update({"smtpd_tls_cert_file": certs.leaf_chain,
                         "smtpd_tls_key_file": certs.leaf_key,
                         "smtpd_tls_security_level": "may"})
    b.subport = free_port()
    b.listen("127.0.0.1", b.subport, options=[
        "smtpd_sasl_auth_enable=yes",
        # Nobody is trusted by address: only a login relays or delivers.
        "mynetworks=198.51.100.0/24",
        "smtpd_relay_restrictions=permit_sasl_authenticated,reject",
        "smtpd_recipient_restrictions=permit_sasl_authenticated,reject",
    ])
    return b.start()


def client(mta, dns, b, password=PASSWORD, **params):
    a = mta("a.ostia.test")
    hop = "[127.0.0.1]:%d" % b.subport
    a.params.update({
        # Knows no name: the relayhost is an address.
        "dns_resolvers": dns({}).resolvers,
        "relayhost": hop,
        "smtp_sasl_auth_enable": "yes",
        "smtp_sasl_password_maps": a.table(
            "sasl_passwd", {hop: "%s:%s" % (USER, password)}),
        "smtp_sasl_security_options": "noanonymous",
    })
    a.params.update(params)
    return a.start()


def no_password_logged(a, password=PASSWORD):
    assert password not in a.o.log_text(), "a password was logged"


def test_relayhost_auth_delivered(mta, dns, ostia_factory):
    b = provider(ostia_factory)
    a = client(mta, dns, b)
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    b.wait_messages(BOB, 1, tok)
    a.wait_sent(BOB, "127.0.0.1", "127.0.0.1", b.subport)
    b.wait_log(r"sasl_method=(PLAIN|LOGIN), sasl_username=%s"
               % re.escape(USER))
    a.wait_queue_empty()
    no_password_logged(a)


def test_relayhost_wrong_password_deferred(mta, dns, ostia_factory):
    b = provider(ostia_factory)
    a = client(mta, dns, b, password="not-the-password")
    tok = token()
    qid = a.send(BOB, message_for(tok, BOB))
    line = a.wait_status(BOB, "(?:deferred|bounced|sent)").group(0)
    assert "status=deferred" in line, \
        "a refused login is a temporary failure (as with Postfix's " \
        "smtp_sasl_auth_soft_bounce = yes): %r" % line
    assert re.search(r"535 5\.7\.8", line), \
        "the deferral should carry the server's reply: %r" % line
    assert re.search(r"auth", line, re.I), line
    a.wait_deferred_in_queue(qid, "535")
    settle(2)
    assert not b.messages(BOB), b.diag()
    a.assert_no_status(BOB, "bounced")
    no_password_logged(a, "not-the-password")


def test_relayhost_noplaintext_without_tls_not_sent(mta, dns,
                                                    ostia_factory):
    b = provider(ostia_factory)
    # Passwords allowed over TLS only, and B offers no TLS.
    a = client(mta, dns, b,
               smtp_sasl_security_options="noanonymous, noplaintext",
               smtp_sasl_tls_security_options="noanonymous")
    tok = token()
    qid = a.send(BOB, message_for(tok, BOB))
    line = a.wait_status(BOB, "deferred").group(0)
    assert re.search(r"plaintext|unencrypted|without TLS|no (suitable )?"
                     r"mechanism", line, re.I), \
        "the deferral should say why no password was sent: %r" % line
    a.wait_deferred_in_queue(qid)
    settle(2)
    assert not b.messages(BOB), b.diag()
    # The password never went over the wire: B saw no AUTH attempt.
    assert not re.search(r"sasl_username=|authentication failed",
                         b.o.log_text()), b.diag()
    no_password_logged(a)


def test_relayhost_noplaintext_with_tls_delivered(mta, dns, ostia_factory,
                                                  certs):
    b = provider(ostia_factory, certs)
    a = client(mta, dns, b,
               smtp_sasl_security_options="noanonymous, noplaintext",
               smtp_sasl_tls_security_options="noanonymous",
               smtp_tls_security_level="encrypt")
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    b.wait_messages(BOB, 1, tok)
    a.wait_log(r"TLS connection established to (?:127\.0\.0\.1)?"
               r"\[127\.0\.0\.1\]:%d" % b.subport)
    b.wait_log(r"sasl_username=%s" % re.escape(USER))
    a.wait_queue_empty()
    no_password_logged(a)


def peer_client(mta, peer, dns, mechs=("PLAIN", "LOGIN"), **params):
    """A scripted peer offering AUTH mechs, and a started A relaying to
    it with the right password and params."""
    p = peer(auth={USER: PASSWORD}, auth_mechs=mechs)
    a = mta("a.ostia.test")
    hop = p.nexthop
    a.params.update({
        "dns_resolvers": dns({}).resolvers,
        "relayhost": hop,
        "smtp_sasl_auth_enable": "yes",
        "smtp_sasl_password_maps": a.table(
            "sasl_passwd", {hop: "%s:%s" % (USER, PASSWORD)}),
        "smtp_sasl_security_options": "noanonymous",
    })
    a.params.update(params)
    a.start()
    return p, a


def test_auth_login_only_server(mta, peer, dns):
    p, a = peer_client(mta, peer, dns, mechs=("LOGIN",))
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    p.wait(lambda s: s.delivered(BOB) == 1, "delivery", diag=a.diag)
    assert p.auth_attempts == [("LOGIN", USER, True)], p.describe()
    assert p.completed()[0]["auth"] == USER
    a.wait_queue_empty()
    no_password_logged(a)
    assert not a.messages(SENDER)


@pytest.mark.parametrize("flt", ["login", "!plain, static:all",
                                 "cram-md5, LOGIN"])
def test_mechanism_filter_picks_login(mta, peer, dns, flt):
    """The server offers PLAIN and LOGIN; without a filter A would use
    PLAIN (test_relayhost_auth_delivered), the filter leaves LOGIN."""
    p, a = peer_client(mta, peer, dns, smtp_sasl_mechanism_filter=flt)
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    p.wait(lambda s: s.delivered(BOB) == 1, "delivery", diag=a.diag)
    assert p.auth_attempts == [("LOGIN", USER, True)], p.describe()
    a.wait_queue_empty()


def test_no_filter_uses_plain(mta, peer, dns):
    p, a = peer_client(mta, peer, dns)
    a.send(BOB, message_for(token(), BOB))
    p.wait(lambda s: s.delivered(BOB) == 1, "delivery", diag=a.diag)
    assert p.auth_attempts == [("PLAIN", USER, True)], p.describe()


@pytest.mark.parametrize("flt,mechs,text", [
    ("cram-md5", ("PLAIN", "LOGIN"),
     r".*smtp_sasl_mechanism_filter = cram-md5 allows neither of Ostia's "
     r"mechanisms"),
    ("plain", ("LOGIN",),
     r".*no AUTH mechanism in common \(we can do PLAIN: "
     r"smtp_sasl_mechanism_filter = plain\)"),
])
def test_mechanism_filter_leaves_nothing(mta, peer, dns, flt, mechs, text):
    p, a = peer_client(mta, peer, dns, mechs=mechs,
                       smtp_sasl_mechanism_filter=flt)
    qid = a.send(BOB, message_for(token(), BOB))
    a.wait_status(BOB, "deferred", text)
    a.wait_deferred_in_queue(qid)
    assert p.auth_attempts == [], p.describe()
    assert not p.completed(), p.describe()
    no_password_logged(a)
