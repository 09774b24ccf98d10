# SPDX-License-Identifier: MIT
"""Setup of the outbound scenarios (tests/e2e/20-outbound): Ostia's
smtp delivery agent against other Ostia instances, Postfix, and a
scripted SMTP peer, with a loopback DNS server (unbound) for MX, A and
TLSA records.

Fixtures:
  mta(hostname, **kw)  -> outbound_e2e.Mta (configured, not started)
  peer(**kw)           -> smtp_peer.SmtpPeer (running), closed after the
                          test; its transcript is printed when the test
                          failed
  dns(zones, signed_zones=None, broken_zones=())
                       -> dns_server.DnsServer (running), stopped after
                          the test; its log is printed on failure
  certs (module)       -> tls_certs.CertSet for mx1/mx2.remote.test
                          (other_names: other.test), files readable by
                          the Ostia test user
  port                 -> a port free on 127.0.0.2-4 (smtp_tcp_port of
                          the MX hosts)
  postfix(**kw)        -> outbound_e2e.PostfixMta (not started), stopped
                          after the test; skips without postfix
"""

import os
import shutil
import sys
import tempfile

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
_E2E = os.path.dirname(_HERE)
for _d in (_HERE, _E2E):
    if _d not in sys.path:
        sys.path.insert(0, _d)

import outbound_e2e  # noqa: E402
from smtp_peer import SmtpPeer  # noqa: E402


def _failed(request):
    return any(getattr(getattr(request.node, "ostia_rep_" + w, None),
                       "failed", False) for w in ("setup", "call"))


@pytest.fixture
def mta(ostia_factory):
    def make(hostname, **kwargs):
        return outbound_e2e.Mta(ostia_factory, hostname, **kwargs)
    return make


@pytest.fixture
def peer(request):
    made = []

    def make(**kwargs):
        cls = kwargs.pop("cls", SmtpPeer)
        p = cls(**kwargs)
        made.append(p)
        return p
    yield make
    failed = _failed(request)
    for p in made:
        if failed:
            print("---- scripted SMTP peer %s ----" % p.nexthop)
            print(p.describe())
        p.close()


@pytest.fixture
def dns(request):
    made = []
    tmp = tempfile.mkdtemp(prefix="ostia-dns-")
    os.chmod(tmp, 0o755)

    def make(zones, signed_zones=None, broken_zones=()):
        import dns_server
        srv = dns_server.DnsServer(tmp, zones, signed_zones=signed_zones,
                                   broken_zones=broken_zones)
        made.append(srv)
        return srv.start()
    yield make
    failed = _failed(request)
    for srv in made:
        if failed:
            print("---- DNS server 127.0.0.1@%s ----" % srv.port)
            print(srv.log()[-3000:])
        srv.stop()
    if failed:
        print("kept %s" % tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def certs(ostia_user):
    import tls_certs
    d = tempfile.mkdtemp(prefix="ostia-certs-")
    os.chmod(d, 0o755)
    cs = tls_certs.make_certs(d, names=("mx1.remote.test", "mx2.remote.test"),
                              other_names=("other.test",))
    # The smtpd children run as the test user: let them read the keys.
    if os.geteuid() == 0:
        import pwd
        pw = pwd.getpwnam(ostia_user)
        for name in os.listdir(d):
            os.chown(os.path.join(d, name), pw.pw_uid, pw.pw_gid)
    yield cs
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def port():
    return outbound_e2e.mx_port()


@pytest.fixture
def postfix(request, ostia_user):
    made = []

    def make(**kwargs):
        base = tempfile.mkdtemp(prefix="ostia-postfix-")
        os.chmod(base, 0o755)
        p = outbound_e2e.PostfixMta(base, ostia_user, **kwargs)
        made.append(p)
        return p
    yield make
    failed = _failed(request)
    for p in made:
        if failed:
            print("---- Postfix %s ----" % p.dir)
            print(p.log_text()[-4000:])
        p.close()
        if failed:
            print("kept %s" % p.dir)
        else:
            shutil.rmtree(p.dir, ignore_errors=True)
