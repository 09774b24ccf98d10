# SPDX-License-Identifier: MIT
"""smtp_host_lookup: where the smtp agent finds the addresses of host
names.  dns (the default): A and AAAA records; native: the system's
resolver (/etc/hosts, nsswitch.conf); "dns, native": the system's
resolver for the hosts that DNS does not know.  MX records always come
from DNS.

The agent must see an /etc/hosts of the test's own, without touching
the machine's: the master starts in a mount namespace of its own
(`unshare`) where a file of the test is bind-mounted on /etc/hosts; its
children inherit it, everyone else keeps the real file.

The MX host mx1.remote.test listens at 127.0.0.2 (the test's
/etc/hosts) and, where DNS names it, at 127.0.0.3 (its A record).
"""

import os

import pytest

from delivery_e2e import token
from ostia_harness import find_binary
from outbound_e2e import REMOTE, message_for, mx_zone

BOB = "bob@" + REMOTE
HOSTS = "127.0.0.1 localhost\n127.0.0.2 mx1.%s mx1\n" % REMOTE


def start_with_hosts(a, hosts_text):
    """Start Mta a with hosts_text as the /etc/hosts its processes see."""
    unshare = find_binary("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare (util-linux) for a private "
                    "/etc/hosts")
    path = os.path.join(a.o.tmpdir, "hosts")
    with open(path, "w") as f:
        f.write(hosts_text)
    os.chmod(path, 0o644)
    prefix = a.o.leak_check_wrapper() or [unshare, "--mount",
                                          "--propagation", "private", "--"]
    a.write_config()
    a.o.start_foreground(wrapper=prefix + [
        "/bin/sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', path])
    return a


@pytest.mark.parametrize("lookup,dns_has_mx1,where", [
    ("native", False, "127.0.0.2"),
    ("dns, native", False, "127.0.0.2"),
    ("dns, native", True, "127.0.0.3"),
    ("native", True, "127.0.0.2"),
], ids=["native", "dns-native-fallback", "dns-native-dns-first",
        "native-ignores-dns"])
def test_host_addresses(mta, peer, dns, port, lookup, dns_has_mx1, where):
    """The MX record comes from DNS; mx1's address from where
    smtp_host_lookup says, and the message goes there."""
    peers = {ip: peer(host=ip, port=port, name="mx1." + REMOTE)
             for ip in ("127.0.0.2", "127.0.0.3")}
    hosts = {"mx1": "127.0.0.3"} if dns_has_mx1 else {"mx9": "127.0.0.9"}
    srv = dns({REMOTE: mx_zone(hosts=hosts)})
    a = mta("a.ostia.test").use_dns(srv, port)
    a.params["smtp_host_lookup"] = lookup
    start_with_hosts(a, HOSTS)
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    peers[where].wait(lambda s: s.delivered(BOB) == 1,
                      "delivery to mx1 at %s" % where, diag=a.diag)
    a.wait_sent(BOB, "mx1." + REMOTE, where, port)
    a.wait_queue_empty()
    other = "127.0.0.3" if where == "127.0.0.2" else "127.0.0.2"
    assert peers[other].connections == 0, a.diag()


def test_dns_alone_does_not_read_etc_hosts(mta, peer, dns, port):
    """The default (dns): a host that only /etc/hosts knows has no
    address; the message is deferred with that reason."""
    p = peer(host="127.0.0.2", port=port, name="mx1." + REMOTE)
    srv = dns({REMOTE: mx_zone(hosts={"mx9": "127.0.0.9"})})
    a = mta("a.ostia.test").use_dns(srv, port)
    start_with_hosts(a, HOSTS)
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    line = a.wait_status(BOB, "deferred").group(0)
    assert "MX host mx1.%s has no address" % REMOTE in line, line
    assert p.connections == 0, a.diag()


def test_native_name_not_found_defers(mta, dns, port):
    """native, and the MX host is nowhere: deferred (an MX host without
    an address is never a bounce), with the host named."""
    srv = dns({REMOTE: mx_zone(mxs=(("mx7", 10),))})
    a = mta("a.ostia.test").use_dns(srv, port)
    a.params["smtp_host_lookup"] = "native"
    start_with_hosts(a, HOSTS)
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    line = a.wait_status(BOB, "deferred").group(0)
    assert "mx7.%s" % REMOTE in line, line


def test_dns_disabled_uses_the_system_resolver(mta, peer, port):
    """smtp_dns_support_level = disabled: no DNS at all; a next hop's
    name is found by the system's resolver (here the test's
    /etc/hosts), whatever smtp_host_lookup says."""
    p = peer(host="127.0.0.2", port=port, name="mx1." + REMOTE)
    a = mta("a.ostia.test")
    a.params["smtp_dns_support_level"] = "disabled"
    a.route(REMOTE, "smtp:[mx1.%s]:%d" % (REMOTE, port))
    start_with_hosts(a, HOSTS)
    tok = token()
    a.send(BOB, message_for(tok, BOB))
    p.wait(lambda s: s.delivered(BOB) == 1, "delivery to 127.0.0.2",
           diag=a.diag)
    a.wait_sent(BOB, "mx1." + REMOTE, "127.0.0.2", port)
    a.wait_queue_empty()
