# SPDX-License-Identifier: MIT
"""Test certificates for the end-to-end scenarios.

make_certs(directory) writes a fresh PKI into `directory` (created if
missing) and returns a CertSet whose attributes are the paths of the PEM
files:

  root_ca, root_key        self-signed "Ostia Test Root CA" (ECDSA P-256)
  inter_ca, inter_key      "Ostia Test Intermediate CA", signed by the root
  ca_bundle                the root only: what a verifying client trusts
  leaf_cert, leaf_key      RSA-2048 leaf for `names` (+ IP SANs 127.0.0.1
                           and ::1), signed by the intermediate; the cert
                           file holds the leaf only
  leaf_chain               leaf + intermediate (smtpd_tls_cert_file style)
  leaf_key_chain           key + leaf + intermediate (smtpd_tls_chain_files)
  ec_leaf_cert/_key/_chain ECDSA P-256 leaf for `names`, same layout
  selfsigned_cert/_key     self-signed RSA-2048 for `names` (own key)
  expired_cert/_key/_chain for `names`, signed by the intermediate, expired
                           yesterday
  wrongname_cert/_key/_chain  valid, signed by the intermediate, only for
                           `other_names` (no IP SANs)
  other_cert/_key/_chain   valid, for `other_names`: the second host of SNI
                           tests; its key differs from leaf_key, so a
                           key/cert mix-up between the two hosts shows
  mismatched_key           an RSA-2048 key that matches no certificate
  weak_cert, weak_key      RSA-1024 leaf for `names`, signed by the
                           intermediate with SHA-1: fails verification at
                           OpenSSL security level 1 (SHA-1 signature) and
                           2 (key too small); passes at level 0
  soon_cert/_key/_chain    valid for `names`, expires in 10 days

Keys are unencrypted PKCS#8 PEM.  Every file holding a private key
(including leaf_key_chain) has mode 0600; certificate files 0644.  Files
belong to the calling user; a test that runs daemons under another user
must hand them over itself.

Reuse to keep generation fast (RSA-2048 takes about 0.3 s here): the CAs
use ECDSA keys; expired, soon and leaf share leaf_key; wrongname shares
other_key.  Fresh RSA-2048 keys: leaf, other, selfsigned, mismatched.
Nothing is cached across calls.

Needs Debian's python3-cryptography (scripts/install-deps installs it).
"""

import datetime
import ipaddress
import os
import warnings

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT_CN = "Ostia Test Root CA"
INTER_CN = "Ostia Test Intermediate CA"
ORG = "Ostia Test"
# IP addresses in the SAN of the certificates for `names`.
LOOPBACK_IPS = ("127.0.0.1", "::1")

_DAY = datetime.timedelta(days=1)


class CertSet:
    """Paths (str) of one generated set; see the module documentation."""

    def __init__(self, directory, names, other_names):
        self.dir = str(directory)
        self.names = list(names)
        self.other_names = list(other_names)

        def p(name):
            return os.path.join(self.dir, name)

        self.root_ca = p("root-ca.pem")
        self.root_key = p("root-ca.key")
        self.inter_ca = p("inter-ca.pem")
        self.inter_key = p("inter-ca.key")
        self.ca_bundle = p("ca-bundle.pem")
        self.leaf_cert = p("leaf.pem")
        self.leaf_key = p("leaf.key")
        self.leaf_chain = p("leaf-chain.pem")
        self.leaf_key_chain = p("leaf-key-chain.pem")
        self.ec_leaf_cert = p("ec-leaf.pem")
        self.ec_leaf_key = p("ec-leaf.key")
        self.ec_leaf_chain = p("ec-leaf-chain.pem")
        self.selfsigned_cert = p("selfsigned.pem")
        self.selfsigned_key = p("selfsigned.key")
        self.expired_cert = p("expired.pem")
        self.expired_key = p("expired.key")
        self.expired_chain = p("expired-chain.pem")
        self.wrongname_cert = p("wrongname.pem")
        self.wrongname_key = p("wrongname.key")
        self.wrongname_chain = p("wrongname-chain.pem")
        self.other_cert = p("other.pem")
        self.other_key = p("other.key")
        self.other_chain = p("other-chain.pem")
        self.mismatched_key = p("mismatched.key")
        self.weak_cert = p("weak.pem")
        self.weak_key = p("weak.key")
        self.soon_cert = p("soon.pem")
        self.soon_key = p("soon.key")
        self.soon_chain = p("soon-chain.pem")

    def __repr__(self):
        return "CertSet(%r, names=%r, other_names=%r)" % (
            self.dir, self.names, self.other_names)


# ------------------------------------------------------------ writing

def _write(path, data, mode):
    """Write bytes to path with exactly `mode` (umask ignored)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    finally:
        os.close(fd)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


# ------------------------------------------------------------ building

def _rsa(bits=2048):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _ec():
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _san(names, ips):
    """SubjectAlternativeName: DNS names, IP literals among names, ips."""
    general = []
    seen_ips = []
    for n in list(names) + list(ips):
        try:
            ip = ipaddress.ip_address(n)
        except ValueError:
            general.append(x509.DNSName(n))
            continue
        if ip not in seen_ips:
            seen_ips.append(ip)
            general.append(x509.IPAddress(ip))
    return x509.SubjectAlternativeName(general)


def _builder(subject, issuer, pubkey, not_before, not_after):
    return (x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(pubkey)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(pubkey),
                           critical=False))


def _ca_usage():
    return x509.KeyUsage(digital_signature=True, content_commitment=False,
                         key_encipherment=False, data_encipherment=False,
                         key_agreement=False, key_cert_sign=True,
                         crl_sign=True, encipher_only=False,
                         decipher_only=False)


def _leaf_usage(key, ca=False):
    return x509.KeyUsage(digital_signature=True, content_commitment=False,
                         key_encipherment=isinstance(key, rsa.RSAPrivateKey),
                         data_encipherment=False, key_agreement=False,
                         key_cert_sign=ca, crl_sign=False,
                         encipher_only=False, decipher_only=False)


_EKU = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                              ExtendedKeyUsageOID.CLIENT_AUTH])


def _leaf(key, names, ips, issuer_cert, issuer_key, not_before, not_after,
          digest=None):
    """An end-entity certificate for names (+ ips) signed by the issuer."""
    b = _builder(_name(names[0]), issuer_cert.subject, key.public_key(),
                 not_before, not_after)
    b = (b.add_extension(x509.AuthorityKeyIdentifier
                         .from_issuer_public_key(issuer_key.public_key()),
                         critical=False)
         .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                        critical=True)
         .add_extension(_leaf_usage(key), critical=True)
         .add_extension(_EKU, critical=False)
         .add_extension(_san(names, ips), critical=False))
    if digest is None:
        return b.sign(issuer_key, hashes.SHA256())
    with warnings.catch_warnings():
        # weak_cert is signed with SHA-1 on purpose; cryptography warns.
        warnings.simplefilter("ignore")
        return b.sign(issuer_key, digest)


def make_certs(directory, names=("mail.example.test", "localhost"),
               other_names=("other.example.test",)):
    """Generate a fresh set of test certificates into directory.

    directory is created (with parents) when missing; existing files of a
    previous set are overwritten.  names and other_names are non-empty
    sequences of host names (an IP literal among them becomes an IP SAN);
    the first one is also the subject CN.  Returns a CertSet.
    """
    names = tuple(names)
    other_names = tuple(other_names)
    if not names or not other_names:
        raise ValueError("names and other_names must not be empty")
    os.makedirs(directory, exist_ok=True)
    cs = CertSet(directory, names, other_names)

    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    start = now - _DAY
    ca_end = now + 3650 * _DAY
    leaf_end = now + 825 * _DAY

    # Certificate authorities.
    root_key = _ec()
    root_name = _name(ROOT_CN)
    root = (_builder(root_name, root_name, root_key.public_key(), start,
                     ca_end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=1),
                           critical=True)
            .add_extension(_ca_usage(), critical=True)
            .sign(root_key, hashes.SHA256()))
    inter_key = _ec()
    inter = (_builder(_name(INTER_CN), root.subject, inter_key.public_key(),
                      start, ca_end)
             .add_extension(x509.AuthorityKeyIdentifier
                            .from_issuer_public_key(root_key.public_key()),
                            critical=False)
             .add_extension(x509.BasicConstraints(ca=True, path_length=0),
                            critical=True)
             .add_extension(_ca_usage(), critical=True)
             .sign(root_key, hashes.SHA256()))

    # Keys.
    leaf_key = _rsa()
    other_key = _rsa()
    selfsigned_key = _rsa()
    mismatched_key = _rsa()
    weak_key = _rsa(1024)
    ec_key = _ec()

    def signed(key, hosts, ips, not_before=start, not_after=leaf_end,
               digest=None):
        return _leaf(key, hosts, ips, inter, inter_key, not_before,
                     not_after, digest)

    leaf = signed(leaf_key, names, LOOPBACK_IPS)
    ec_leaf = signed(ec_key, names, LOOPBACK_IPS)
    expired = signed(leaf_key, names, LOOPBACK_IPS,
                     not_before=now - 60 * _DAY, not_after=now - _DAY)
    wrongname = signed(other_key, other_names, ())
    other = signed(other_key, other_names, ())
    weak = signed(weak_key, names, LOOPBACK_IPS, digest=hashes.SHA1())
    soon = signed(leaf_key, names, LOOPBACK_IPS, not_after=now + 10 * _DAY)

    # Self-signed, as `openssl req -x509` makes it (CA:TRUE), so that a
    # client can also pin it as its own trust anchor.
    ss_name = _name(names[0])
    selfsigned = (_builder(ss_name, ss_name, selfsigned_key.public_key(),
                           start, leaf_end)
                  .add_extension(x509.BasicConstraints(ca=True,
                                                       path_length=None),
                                 critical=True)
                  .add_extension(_leaf_usage(selfsigned_key, ca=True),
                                 critical=True)
                  .add_extension(_EKU, critical=False)
                  .add_extension(_san(names, LOOPBACK_IPS), critical=False)
                  .sign(selfsigned_key, hashes.SHA256()))

    inter_pem = _cert_pem(inter)
    cert, key = 0o644, 0o600
    files = [
        (cs.root_ca, _cert_pem(root), cert),
        (cs.root_key, _key_pem(root_key), key),
        (cs.inter_ca, inter_pem, cert),
        (cs.inter_key, _key_pem(inter_key), key),
        (cs.ca_bundle, _cert_pem(root), cert),
        (cs.mismatched_key, _key_pem(mismatched_key), key),
        (cs.selfsigned_cert, _cert_pem(selfsigned), cert),
        (cs.selfsigned_key, _key_pem(selfsigned_key), key),
        (cs.weak_cert, _cert_pem(weak), cert),
        (cs.weak_key, _key_pem(weak_key), key),
        (cs.leaf_key_chain,
         _key_pem(leaf_key) + _cert_pem(leaf) + inter_pem, key),
    ]
    for stem, c, k in (("leaf", leaf, leaf_key),
                       ("ec_leaf", ec_leaf, ec_key),
                       ("expired", expired, leaf_key),
                       ("wrongname", wrongname, other_key),
                       ("other", other, other_key),
                       ("soon", soon, leaf_key)):
        cert_attr = stem + "_cert"
        files.append((getattr(cs, cert_attr), _cert_pem(c), cert))
        files.append((getattr(cs, stem + "_key"), _key_pem(k), key))
        files.append((getattr(cs, stem + "_chain"), _cert_pem(c) + inter_pem,
                      cert))
    for path, data, mode in files:
        _write(path, data, mode)
    return cs
