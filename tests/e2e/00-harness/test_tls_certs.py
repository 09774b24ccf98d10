# SPDX-License-Identifier: MIT
"""Self-test of tests/e2e/tls_certs.py: generate one set and check it with
the `openssl` command line tool (run without a shell).

One set is generated per module (it takes about two seconds); each test
only reads it.  Without the openssl tool the tests skip visibly.
"""

import os
import shutil
import stat
import subprocess
import tempfile

import pytest

import ostia_harness as h
import tls_certs

NAMES = ("mail.example.test", "localhost")
OTHER = ("other.example.test",)


@pytest.fixture(scope="module")
def certs():
    d = tempfile.mkdtemp(prefix="ostia-certs-")
    try:
        yield tls_certs.make_certs(os.path.join(d, "pki"), NAMES, OTHER)
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def openssl():
    return h.require_peer("openssl")


def run(openssl, *args):
    """Run openssl with args; return (exit status, stdout + stderr)."""
    p = subprocess.run([openssl] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60, check=False)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def verify(openssl, cs, cert, *extra):
    return run(openssl, "verify", "-CAfile", cs.ca_bundle,
               "-untrusted", cs.inter_ca, *extra, cert)


def cert_pubkey(openssl, path):
    rc, out = run(openssl, "x509", "-in", path, "-noout", "-pubkey")
    assert rc == 0, out
    return out


def key_pubkey(openssl, path):
    rc, out = run(openssl, "pkey", "-in", path, "-pubout")
    assert rc == 0, out
    return out


def pem_blocks(path):
    """The PEM block types in the file, in order."""
    with open(path) as f:
        return [line.strip()[len("-----BEGIN "):-len("-----")]
                for line in f if line.startswith("-----BEGIN ")]


def subject(openssl, path):
    rc, out = run(openssl, "x509", "-in", path, "-noout", "-subject",
                  "-nameopt", "RFC2253")
    assert rc == 0, out
    return out.strip()


# ------------------------------------------------------------ chains

def test_leaf_chain_verifies(certs, openssl):
    rc, out = verify(openssl, certs, certs.leaf_chain)
    assert rc == 0, out
    assert ": OK" in out
    rc, out = verify(openssl, certs, certs.leaf_cert, "-verify_hostname",
                     "mail.example.test")
    assert rc == 0, out
    rc, out = verify(openssl, certs, certs.leaf_cert, "-verify_ip",
                     "127.0.0.1")
    assert rc == 0, out


def test_leaf_needs_the_intermediate(certs, openssl):
    # The bundle holds the root only: without the intermediate the leaf
    # cannot be verified.
    rc, out = run(openssl, "verify", "-CAfile", certs.ca_bundle,
                  certs.leaf_cert)
    assert rc != 0, out
    assert pem_blocks(certs.ca_bundle) == ["CERTIFICATE"]
    assert subject(openssl, certs.ca_bundle) == \
        "subject=CN=Ostia Test Root CA,O=Ostia Test"


@pytest.mark.parametrize("attr", ["ec_leaf_chain", "other_chain",
                                  "wrongname_chain", "soon_chain"])
def test_other_valid_chains_verify(certs, openssl, attr):
    rc, out = verify(openssl, certs, getattr(certs, attr))
    assert rc == 0, out


def test_ec_leaf_is_ecdsa(certs, openssl):
    rc, out = run(openssl, "x509", "-in", certs.ec_leaf_cert, "-noout",
                  "-text")
    assert rc == 0, out
    assert "id-ecPublicKey" in out and "prime256v1" in out


def test_leaf_is_rsa_2048(certs, openssl):
    rc, out = run(openssl, "x509", "-in", certs.leaf_cert, "-noout",
                  "-text")
    assert rc == 0, out
    assert "Public-Key: (2048 bit)" in out
    assert "rsaEncryption" in out


def test_selfsigned_does_not_verify(certs, openssl):
    rc, out = verify(openssl, certs, certs.selfsigned_cert)
    assert rc != 0, out
    assert "self-signed certificate" in out or "self signed" in out
    # Pinned as its own trust anchor it does.
    rc, out = run(openssl, "verify", "-CAfile", certs.selfsigned_cert,
                  certs.selfsigned_cert)
    assert rc == 0, out


def test_expired_fails_with_expiry(certs, openssl):
    rc, out = verify(openssl, certs, certs.expired_chain)
    assert rc != 0, out
    assert "certificate has expired" in out


def test_wrongname_fails_hostname_check(certs, openssl):
    for attr in ("wrongname_cert", "other_cert"):
        path = getattr(certs, attr)
        rc, out = verify(openssl, certs, path, "-verify_hostname",
                         "mail.example.test")
        assert rc != 0, (attr, out)
        assert "hostname mismatch" in out, (attr, out)
        rc, out = verify(openssl, certs, path, "-verify_ip", "127.0.0.1")
        assert rc != 0, (attr, out)
        rc, out = verify(openssl, certs, path, "-verify_hostname",
                         "other.example.test")
        assert rc == 0, (attr, out)


def test_weak_cert_fails_security_levels(certs, openssl):
    rc, out = verify(openssl, certs, certs.weak_cert, "-auth_level", "0")
    assert rc == 0, out
    rc, out = verify(openssl, certs, certs.weak_cert, "-auth_level", "1")
    assert rc != 0, out
    assert "digest algorithm too weak" in out
    rc, out = verify(openssl, certs, certs.weak_cert, "-auth_level", "2")
    assert rc != 0, out
    # The good leaf passes where the weak one fails.
    rc, out = verify(openssl, certs, certs.leaf_cert, "-auth_level", "2")
    assert rc == 0, out


def test_soon_expires_in_ten_days(certs, openssl):
    rc, out = run(openssl, "x509", "-in", certs.soon_cert, "-noout",
                  "-checkend", str(11 * 86400))
    assert rc != 0, out
    rc, out = run(openssl, "x509", "-in", certs.soon_cert, "-noout",
                  "-checkend", str(9 * 86400))
    assert rc == 0, out


# ------------------------------------------------------------ keys

def test_keys_match_their_certs(certs, openssl):
    for cert, key in ((certs.leaf_cert, certs.leaf_key),
                      (certs.ec_leaf_cert, certs.ec_leaf_key),
                      (certs.selfsigned_cert, certs.selfsigned_key),
                      (certs.expired_cert, certs.expired_key),
                      (certs.wrongname_cert, certs.wrongname_key),
                      (certs.other_cert, certs.other_key),
                      (certs.weak_cert, certs.weak_key),
                      (certs.soon_cert, certs.soon_key),
                      (certs.root_ca, certs.root_key),
                      (certs.inter_ca, certs.inter_key)):
        assert cert_pubkey(openssl, cert) == key_pubkey(openssl, key), cert


def test_mismatched_key_matches_no_cert(certs, openssl):
    mism = key_pubkey(openssl, certs.mismatched_key)
    assert "BEGIN PUBLIC KEY" in mism
    for attr in ("root_ca", "inter_ca", "leaf_cert", "ec_leaf_cert",
                 "selfsigned_cert", "expired_cert", "wrongname_cert",
                 "other_cert", "weak_cert", "soon_cert"):
        assert cert_pubkey(openssl, getattr(certs, attr)) != mism, attr


def test_keys_that_must_differ(certs, openssl):
    keys = [key_pubkey(openssl, k) for k in
            (certs.leaf_key, certs.other_key, certs.selfsigned_key,
             certs.mismatched_key)]
    assert len(set(keys)) == len(keys)


# ------------------------------------------------------------ files

def test_chain_file_layout(certs, openssl):
    assert pem_blocks(certs.leaf_cert) == ["CERTIFICATE"]
    assert pem_blocks(certs.leaf_chain) == ["CERTIFICATE", "CERTIFICATE"]
    assert pem_blocks(certs.leaf_key_chain) == \
        ["PRIVATE KEY", "CERTIFICATE", "CERTIFICATE"]
    for chain in (certs.leaf_chain, certs.ec_leaf_chain, certs.other_chain,
                  certs.expired_chain, certs.wrongname_chain,
                  certs.soon_chain):
        with open(chain) as f:
            text = f.read()
        with open(certs.inter_ca) as f:
            assert text.endswith(f.read()), chain
    with open(certs.leaf_key_chain) as f:
        text = f.read()
    with open(certs.leaf_key) as f:
        key = f.read()
    with open(certs.leaf_chain) as f:
        assert text == key + f.read()
    # The key and the leaf in leaf_key_chain belong together.
    assert key_pubkey(openssl, certs.leaf_key_chain) == \
        cert_pubkey(openssl, certs.leaf_cert)


def test_file_modes(certs):
    for name, value in sorted(vars(certs).items()):
        if not isinstance(value, str) or name == "dir":
            continue
        assert os.path.isfile(value), name
        mode = stat.S_IMODE(os.stat(value).st_mode)
        secret = name.endswith("_key") or name == "leaf_key_chain"
        assert mode == (0o600 if secret else 0o644), (name, oct(mode))
        with open(value) as f:
            text = f.read()
        if secret:
            assert "BEGIN PRIVATE KEY" in text, name
            assert "ENCRYPTED" not in text, name
        else:
            assert "PRIVATE" not in text, name


def test_names_and_subjects(certs, openssl):
    assert certs.names == list(NAMES)
    assert certs.other_names == list(OTHER)
    assert subject(openssl, certs.leaf_cert) == \
        "subject=CN=mail.example.test,O=Ostia Test"
    assert subject(openssl, certs.other_cert) == \
        "subject=CN=other.example.test,O=Ostia Test"
    rc, out = run(openssl, "x509", "-in", certs.leaf_cert, "-noout", "-ext",
                  "subjectAltName")
    assert rc == 0, out
    for want in ("DNS:mail.example.test", "DNS:localhost",
                 "IP Address:127.0.0.1"):
        assert want in out


def test_empty_names_refused(tmp_path):
    with pytest.raises(ValueError):
        tls_certs.make_certs(str(tmp_path), names=())
