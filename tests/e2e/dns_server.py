# SPDX-License-Identifier: MIT
"""A test DNS server for the e2e scenarios: Debian's unbound as authority.

DnsServer starts /usr/sbin/unbound in the foreground on 127.0.0.1 and a
free port (UDP and TCP), with its configuration, zone files and keys in a
directory of its own under tmpdir (no chroot, no user switch, no
daemon, no remote control, iterator module only: it answers, it does not
validate).  Ostia is pointed at it with

    dns_resolvers = <server.resolvers>              ("127.0.0.1@PORT")
    dnssec_trust_anchor_file = <server.trust_anchor_file>

It serves:

- zones: {"remote.test": ["mx1.remote.test. 300 IN A 127.0.0.2", ...]}
  as unbound local-zone (type static) + local-data: names without data
  are NXDOMAIN, a name with data but not of the asked type is NODATA.
  RR lines are zone-file syntax with owner, TTL, class and type written
  out.  A SOA is added when the list has none (for negative answers).
- signed_zones: the same form, signed with ldns-signzone (NSEC) using a
  KSK and a ZSK made by ldns-keygen (algorithm 13, ECDSAP256SHA256) and
  served as an auth-zone (for-downstream, for-upstream), so that RRSIGs,
  DNSKEYs and NSECs come back to a query with the DO bit.  SOA and NS are
  added when missing.  trust_anchor_file holds the KSK DNSKEY of every
  signed zone (zone-file format, usable as dnssec_trust_anchor_file);
  it is None without signed zones.
- broken_zones: names among signed_zones whose signatures are spoiled
  after signing (every RRSIG except the one over the DNSKEY set gets a
  flipped byte): the keys validate, every answer from the zone is BOGUS.

Any other name gets NXDOMAIN (a static "." zone): the server never
recurses to the Internet.

A missing unbound or ldns-keygen/ldns-signzone skips the test (visible
skip), like other missing peers.

tlsa_rdata(cert_pem_path, usage, selector, mtype) gives the rdata text of
a TLSA record for a certificate ("3 1 1 <hex>").
"""

import base64
import hashlib
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time

import pytest

UNBOUND = "/usr/sbin/unbound"
START_TIMEOUT = 10.0


def _require(path_or_name):
    path = path_or_name if "/" in path_or_name \
        else shutil.which(path_or_name)
    if not path or not os.access(path, os.X_OK):
        pytest.skip("peer %s is not installed (Debian packages: unbound, "
                    "ldnsutils)" % path_or_name)
    return path


def _free_port():
    """A port free for both UDP and TCP on 127.0.0.1 a moment ago."""
    for _ in range(50):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free port for the DNS server")


def dead_resolver():
    """A "127.0.0.1@PORT" where nothing listens (a dead DNS server)."""
    return "127.0.0.1@%d" % _free_port()


def _fqdn(name):
    return name if name.endswith(".") else name + "."


def _rr_type(line):
    """The type field of a zone-file RR line written out in full."""
    f = line.split()
    return f[3].upper() if len(f) > 3 else ""


def _complete_zone(zone, rrs, with_ns):
    """rrs with a SOA (and NS) added when missing."""
    z = _fqdn(zone)
    types = {_rr_type(r) for r in rrs}
    out = []
    if "SOA" not in types:
        out.append("%s 300 IN SOA ns.%s hostmaster.%s 1 3600 600 86400 60"
                   % (z, z, z))
    if with_ns and "NS" not in types:
        out.append("%s 300 IN NS ns.%s" % (z, z))
        out.append("ns.%s 300 IN A 127.0.0.1" % z)
    return out + list(rrs)


def _quote(text):
    """text quoted for unbound.conf (no escapes there: a value with
    double quotes, as TXT data, goes in single quotes)."""
    if '"' not in text:
        return '"%s"' % text
    if "'" in text:
        raise ValueError("cannot quote for unbound.conf: %r" % text)
    return "'%s'" % text


def _query_packet(qid, name, qtype=6):
    out = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0" + struct.pack("!HH", qtype, 1)


class DnsServer:
    """unbound serving test zones; see the module comment."""

    def __init__(self, tmpdir, zones, signed_zones=None, broken_zones=(),
                 refuse_all=False, refuse_zones=()):
        """refuse_all: answer every query REFUSED at once (a DNS that
        is there but gives no answers: every lookup is a quick
        temporary failure).  refuse_zones: the same for names under
        these zones only (e.g. "127.in-addr.arpa", which unbound
        otherwise answers itself)."""
        self.tmpdir = tmpdir
        self.refuse_all = refuse_all
        self.refuse_zones = tuple(refuse_zones)
        self.zones = dict(zones or {})
        self.signed_zones = dict(signed_zones or {})
        self.broken_zones = tuple(broken_zones)
        for z in self.broken_zones:
            if z not in self.signed_zones:
                raise ValueError("broken zone %s is not a signed zone" % z)
        self.dir = None
        self.port = None
        self.proc = None
        self.trust_anchor_file = None
        self.log_path = None

    @property
    def resolvers(self):
        """The dns_resolvers value that points at this server."""
        return "127.0.0.1@%d" % self.port

    # -------------------------------------------------------- set-up

    def _sign(self, zone, rrs):
        """Sign zone; returns (signed zone file, KSK DNSKEY line)."""
        keygen = _require("ldns-keygen")
        signzone = _require("ldns-signzone")
        z = _fqdn(zone)
        unsigned = os.path.join(self.dir, zone + ".zone")
        with open(unsigned, "w") as f:
            f.write("$ORIGIN %s\n" % z)
            for line in _complete_zone(zone, rrs, True):
                f.write(line + "\n")
        keys = []
        for ksk in (True, False):
            args = [keygen, "-a", "ECDSAP256SHA256"] + \
                (["-k"] if ksk else []) + [z]
            r = subprocess.run(args, cwd=self.dir, capture_output=True,
                               text=True, check=True)
            keys.append(r.stdout.strip())
        ksk_base, zsk_base = keys
        signed = unsigned + ".signed"
        # Inception an hour back: the validator's clock may be a little
        # behind the signer's.
        inception = time.strftime("%Y%m%d%H%M%S",
                                  time.gmtime(time.time() - 3600))
        subprocess.run([signzone, "-i", inception, "-f", signed, unsigned,
                        zsk_base, ksk_base], cwd=self.dir,
                       capture_output=True, text=True, check=True)
        with open(os.path.join(self.dir, ksk_base + ".key")) as f:
            anchor = " ".join(f.read().split(";")[0].split())
        if zone in self.broken_zones:
            self._spoil(signed)
        return signed, anchor

    @staticmethod
    def _spoil(signed):
        """Flip a byte of every RRSIG except those over DNSKEY."""
        out = []
        with open(signed) as f:
            for line in f:
                f_ = line.split()
                if len(f_) > 5 and f_[3] == "RRSIG" and f_[4] != "DNSKEY":
                    sig = bytearray(base64.b64decode("".join(f_[12:])))
                    sig[len(sig) // 2] ^= 0x55
                    f_ = f_[:12] + [base64.b64encode(bytes(sig)).decode()]
                    line = "\t".join(f_) + "\n"
                out.append(line)
        with open(signed, "w") as f:
            f.writelines(out)

    def _config(self):
        lines = [
            "server:",
            "  interface: 127.0.0.1",
            "  port: %d" % self.port,
            "  do-ip6: no",
            "  do-daemonize: no",
            "  chroot: \"\"",
            "  username: \"\"",
            "  directory: %s" % _quote(self.dir),
            "  pidfile: \"\"",
            "  use-syslog: no",
            "  logfile: %s" % _quote(self.log_path),
            "  verbosity: 1",
            "  module-config: \"iterator\"",
            "  access-control: 127.0.0.0/8 allow",
            "  local-zone: \".\" %s" % ("refuse" if self.refuse_all
                                         else "static"),
            "  local-zone: \"test.\" nodefault",
        ]
        for zone in self.refuse_zones:
            lines.append("  local-zone: %s refuse" % _quote(_fqdn(zone)))
        for zone, rrs in self.zones.items():
            lines.append("  local-zone: %s static" % _quote(_fqdn(zone)))
            for rr in _complete_zone(zone, rrs, False):
                lines.append("  local-data: %s" % _quote(rr))
        for zone in self.signed_zones:
            # Past the static "." and to the auth-zone below.
            lines.append("  local-zone: %s transparent"
                         % _quote(_fqdn(zone)))
        lines += ["remote-control:", "  control-enable: no"]
        for zone, path in self._signed_files.items():
            lines += ["auth-zone:",
                      "  name: %s" % _quote(_fqdn(zone)),
                      "  zonefile: %s" % _quote(path),
                      "  for-downstream: yes",
                      "  for-upstream: yes"]
        return "\n".join(lines) + "\n"

    def start(self):
        """Write the zones and start unbound; returns self."""
        _require(UNBOUND)
        self.dir = tempfile.mkdtemp(prefix="dns-", dir=self.tmpdir)
        self.log_path = os.path.join(self.dir, "unbound.log")
        self._signed_files = {}
        anchors = []
        for zone, rrs in self.signed_zones.items():
            path, anchor = self._sign(zone, rrs)
            self._signed_files[zone] = path
            anchors.append(anchor)
        if anchors:
            self.trust_anchor_file = os.path.join(self.dir, "trust-anchors")
            with open(self.trust_anchor_file, "w") as f:
                f.write("\n".join(anchors) + "\n")
            os.chmod(self.trust_anchor_file, 0o644)
        os.chmod(self.dir, 0o755)
        self.port = _free_port()
        conf = os.path.join(self.dir, "unbound.conf")
        with open(conf, "w") as f:
            f.write(self._config())
        self.proc = subprocess.Popen([UNBOUND, "-d", "-c", conf],
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(self.log_path + ".stderr",
                                                 "w"))
        self._wait_ready()
        return self

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.settimeout(0.2)
            qid = 4242
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError("unbound exited %d:\n%s"
                                       % (self.proc.returncode, self.log()))
                try:
                    s.sendto(_query_packet(qid, "."), ("127.0.0.1",
                                                       self.port))
                    data = s.recv(4096)
                    if len(data) >= 2 and \
                            struct.unpack("!H", data[:2])[0] == qid:
                        return
                except OSError:
                    pass
                time.sleep(0.05)
        finally:
            s.close()
        self.stop()
        raise RuntimeError("unbound did not answer on port %d within %gs:\n%s"
                           % (self.port, START_TIMEOUT, self.log()))

    def log(self):
        """unbound's log and stderr, for failure messages."""
        text = ""
        for p in (self.log_path, self.log_path + ".stderr"):
            try:
                with open(p, errors="replace") as f:
                    text += f.read()
            except (OSError, TypeError):
                pass
        return text

    def stop(self):
        """Stop unbound (its directory stays until tmpdir goes)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def tlsa_rdata(cert_pem_path, usage=3, selector=1, mtype=1):
    """The rdata text of a TLSA record for a PEM certificate.

    selector 0: the whole certificate, 1: its SubjectPublicKeyInfo;
    mtype 0: the bytes themselves, 1: SHA-256, 2: SHA-512.
    Returns e.g. "3 1 1 9f86d08...".
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    with open(cert_pem_path, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    if selector == 0:
        data = cert.public_bytes(serialization.Encoding.DER)
    elif selector == 1:
        data = cert.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo)
    else:
        raise ValueError("selector must be 0 or 1")
    if mtype == 1:
        data = hashlib.sha256(data).digest()
    elif mtype == 2:
        data = hashlib.sha512(data).digest()
    elif mtype != 0:
        raise ValueError("matching type must be 0, 1 or 2")
    return "%d %d %d %s" % (usage, selector, mtype, data.hex())


def module_server(zones):
    """A DnsServer serving zones in a fresh world-readable directory (the
    daemons under test read nothing there, but unbound runs as us);
    a generator for a module-scoped fixture: started, yielded, stopped
    and removed."""
    tmp = tempfile.mkdtemp(prefix="ostia-e2e-dns-")
    os.chmod(tmp, 0o755)
    server = DnsServer(tmp, zones)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
