# SPDX-License-Identifier: MIT
"""`ostia check`, TLS part (issue 4, item 4), and `ostia check --live`.

Each test writes a configuration whose smtpd has TLS on with one kind of
certificate from tests/e2e/tls_certs.py and runs `ostia -c DIR check`:

  exit 0  all good           exit 1  warnings only     exit 2  errors
  (configuration errors still exit 1, as before the TLS part)

The test PKI's root is no system root, so a good chain verifies only
through smtpd_tls_CAfile: that is a warning (a public MX whose clients
lack the CA fails them), hence exit 1 for the good chain.  The other
cases: leaf without its intermediate (error), self-signed (warning with
'unknown ca'), expired (error), key that does not match (error),
expiring in 10 days (warning), myhostname not among the names (warning),
weak RSA-1024 / SHA-1 (warnings), no certificate (error).

--live starts the instance and checks what its listeners serve, over
STARTTLS and implicit TLS.
"""

import os
import re
import shutil
import tempfile

import pytest

pytest.importorskip("cryptography",
                    reason="python3-cryptography (peer of tls_certs.py) is "
                           "not installed; scripts/install-deps installs it")

import tls_certs  # noqa: E402

HOST = "mail.example.test"


@pytest.fixture(scope="module")
def certs():
    d = tempfile.mkdtemp(prefix="ostia-check-tls-")
    os.chmod(d, 0o755)
    cs = tls_certs.make_certs(os.path.join(d, "pki"))
    os.chmod(cs.dir, 0o755)
    yield cs
    shutil.rmtree(d, ignore_errors=True)


def tls_main(certs, cert=None, key=None, **extra):
    """main.cf parameters: TLS may, myhostname covered, CAfile = root."""
    p = {"myhostname": HOST,
         "smtpd_tls_security_level": "may",
         "smtpd_tls_CAfile": certs.ca_bundle}
    if cert is not None:
        p["smtpd_tls_cert_file"] = cert
    if key is not None:
        p["smtpd_tls_key_file"] = key
    p.update(extra)
    return p


def run_check(o, *args):
    """`ostia check ARGS`; returns (exit status, stdout, stderr)."""
    r = o.cli("check", *args, timeout=120)
    return r.returncode, r.stdout, r.stderr


def lines(out, level):
    """The report lines of one level ("error", "warning", "ok", "note")."""
    return [l.strip()[len(level) + 2:] for l in out.splitlines()
            if l.strip().startswith(level + ": ")]


def summary(out):
    m = re.search(r"^TLS: (\d+) errors?, (\d+) warnings?$", out, re.M)
    assert m, out
    return int(m.group(1)), int(m.group(2))


def assert_status(got, want, out, err):
    assert got == want, "exit %d, wanted %d\nstdout:\n%s\nstderr:\n%s" % (
        got, want, out, err)


# ------------------------------------------------------------ static checks

def test_good_chain_is_trusted_only_through_cafile(ostia_factory, certs):
    o = ostia_factory(main_cf=tls_main(certs, certs.leaf_chain,
                                       certs.leaf_key))
    rc, out, err = run_check(o)
    assert_status(rc, 1, out, err)
    assert "configuration OK" in out
    assert lines(out, "error") == []
    warnings = lines(out, "warning")
    assert len(warnings) == 1, warnings
    assert "trusted only through smtpd_tls_CAfile (%s), not by the system " \
        "trust store" % certs.ca_bundle in warnings[0]
    assert "'unknown ca'" in warnings[0]
    ok = lines(out, "ok")
    assert "the private key matches the certificate" in ok
    assert "the chain is complete" in ok
    assert "myhostname %s is among its names" % HOST in ok
    assert "subject: O=Ostia Test, CN=%s" % HOST in out
    assert "issuer: O=Ostia Test, CN=Ostia Test Intermediate CA" in out
    assert "names: mail.example.test, localhost, 127.0.0.1, ::1" in out
    assert "key: RSA, 2048 bits" in out
    assert summary(out) == (0, 1)


def test_good_chain_without_cafile_does_not_verify(ostia_factory, certs):
    o = ostia_factory(main_cf=tls_main(certs, certs.leaf_chain,
                                       certs.leaf_key, smtpd_tls_CAfile=None))
    rc, out, err = run_check(o)
    assert_status(rc, 1, out, err)
    assert lines(out, "error") == []
    assert any("does not verify against the system trust store" in w
               and "'unknown ca'" in w for w in lines(out, "warning")), out


def test_chain_files_and_ecdsa_pair(ostia_factory, certs):
    # smtpd_tls_chain_files: key, certificate and chain in one file.
    o = ostia_factory(main_cf=tls_main(
        certs, smtpd_tls_chain_files=certs.leaf_key_chain))
    rc, out, err = run_check(o)
    assert_status(rc, 1, out, err)
    assert "certificate %s (smtpd_tls_chain_files" % certs.leaf_key_chain \
        in out
    assert "the private key matches the certificate" in lines(out, "ok")
    assert summary(out) == (0, 1)
    # RSA and ECDSA side by side: both are checked.
    o = ostia_factory(main_cf=tls_main(
        certs, certs.leaf_chain, certs.leaf_key,
        smtpd_tls_eccert_file=certs.ec_leaf_chain,
        smtpd_tls_eckey_file=certs.ec_leaf_key))
    rc, out, err = run_check(o)
    assert_status(rc, 1, out, err)
    assert "key: RSA, 2048 bits" in out
    assert "key: EC, 256 bits" in out
    assert "(smtpd_tls_eccert_file; service" in out
    assert lines(out, "ok").count(
        "the private key matches the certificate") == 2


def test_leaf_without_intermediate_is_an_error(ostia_factory, certs):
    o = ostia_factory(main_cf=tls_main(certs, certs.leaf_cert,
                                       certs.leaf_key))
    rc, out, err = run_check(o)
    assert_status(rc, 2, out, err)
    errors = lines(out, "error")
    assert len(errors) == 1, errors
    assert errors[0].startswith("the chain is incomplete: %s does not hold "
                                "the intermediate certificate O=Ostia Test, "
                                "CN=Ostia Test Intermediate CA"
                                % certs.leaf_cert), errors
    assert "add it after the certificate in %s" % certs.leaf_cert \
        in errors[0]
    assert "'unknown ca'" in errors[0]


def test_self_signed_is_a_warning_naming_unknown_ca(ostia_factory, certs):
    o = ostia_factory(main_cf=tls_main(certs, certs.selfsigned_cert,
                                       certs.selfsigned_key))
    rc, out, err = run_check(o)
    assert_status(rc, 1, out, err)
    assert lines(out, "error") == []
    warnings = lines(out, "warning")
    assert len(warnings) == 1, warnings
    assert "self-signed" in warnings[0]
    assert "clients that verify certificates will refuse it with " \
        "'unknown ca'" in warnings[0]


def test_expired_is_an_error(ostia_factory, certs):
    o = ostia_factory(main_cf=tls_main(certs, certs.expired_chain,
                                       certs.expired_key))
    rc, out, err = run_check(o)
    assert_status(rc, 2, out, err)
    errors = lines(out, "error")
    assert len(errors) == 1, errors
    assert re.match(r"the certificate expired on \d{4}-\d\d-\d\d \(1 day "
                    r"ago\): clients refuse it with 'certificate expired'; "
                    r"renew it$", errors[0]), errors


def test_key_that_does_not_match_is_an_error(ostia_factory, certs):
    o = ostia_factory(main_cf=tls_main(certs, certs.leaf_chain,
                                       certs.mismatched_key))
    rc, out, err = run_check(o)
    assert_status(rc, 2, out, err)
    errors = lines(out, "error")
    assert len(errors) == 1, errors
    assert errors[0].startswith(
        "the private key in %s does not match the certificate (O=Ostia "
        "Test, CN=%s) in %s" % (certs.mismatched_key, HOST,
                                certs.leaf_chain)), errors
    # The key file's contents never reach the output.
    with open(certs.mismatched_key) as f:
        body = f.read().splitlines()[1]
    assert body not in out and body not in err


def test_certificate_after_its_chain_is_named(ostia_factory, certs):
    # Intermediate first, then the leaf: the key belongs to certificate 2.
    o = ostia_factory(main_cf={})
    path = os.path.join(o.tmpdir, "inter-first.pem")
    with open(path, "w") as f:
        for p in (certs.inter_ca, certs.leaf_cert):
            with open(p) as g:
                f.write(g.read())
    o.write_main_cf(tls_main(certs, path, certs.leaf_key))
    rc, out, err = run_check(o)
    assert_status(rc, 2, out, err)
    assert any("belongs to certificate 2 of %s, not to the first one" % path
               in e and "must come first" in e
               for e in lines(out, "error")), out


def test_soon_to_expire_is_a_warning(ostia_factory, certs):
    o = ostia_factory(main_cf=tls_main(certs, certs.soon_chain,
                                       certs.soon_key))
    rc, out, err = run_check(o)
    assert_status(rc, 1, out, err)
    assert lines(out, "error") == []
    assert any(re.match(r"the certificate expires on \d{4}-\d\d-\d\d, in 10 "
                        r"days: renew it soon$", w)
               for w in lines(out, "warning")), out


def test_myhostname_not_covered_is_a_warning(ostia_factory, certs):
    o = ostia_factory(main_cf=tls_main(certs, certs.wrongname_chain,
                                       certs.wrongname_key))
    rc, out, err = run_check(o)
    assert_status(rc, 1, out, err)
    assert lines(out, "error") == []
    assert "myhostname mail.example.test is not among the certificate's " \
        "names (other.example.test): clients that connect by that name " \
        "and check it refuse the certificate" in lines(out, "warning")
    # The same certificate is fine for a service whose myhostname it names.
    o.write_master_cf("127.0.0.1:@port:smtp@ inet n - n - 1 smtpd "
                      "-o myhostname=other.example.test\n")
    rc, out, err = run_check(o)
    assert "myhostname other.example.test is among its names" \
        in lines(out, "ok")


def test_weak_key_and_signature_are_warnings(ostia_factory, certs):
    o = ostia_factory(main_cf={})
    chain = os.path.join(o.tmpdir, "weak-chain.pem")
    with open(chain, "w") as f:
        for p in (certs.weak_cert, certs.inter_ca):
            with open(p) as g:
                f.write(g.read())
    o.write_main_cf(tls_main(certs, chain, certs.weak_key))
    rc, out, err = run_check(o)
    # Warnings from the certificate check; smtpd's own TLS setup may
    # refuse the key outright at its OpenSSL security level, and then
    # check says so as the only error.
    errors = lines(out, "error")
    if rc == 2:
        assert len(errors) == 1 and errors[0].startswith(
            "smtpd cannot set up TLS: ") and "key is too small" in errors[0], \
            out
    else:
        assert_status(rc, 1, out, err)
    warnings = lines(out, "warning")
    assert any(w.startswith("weak key: RSA with 1024 bits") for w in
               warnings), warnings
    assert any(w.startswith("weak signature: ecdsa-with-SHA1 on O=Ostia "
                            "Test, CN=%s" % HOST) for w in warnings), warnings


def test_tls_without_certificate_is_an_error(ostia_factory, certs):
    o = ostia_factory(main_cf={"myhostname": HOST},
                      master_cf="127.0.0.1:@port:smtp@ inet n - n - 1 smtpd "
                                "-o smtpd_tls_security_level=encrypt\n")
    rc, out, err = run_check(o)
    assert_status(rc, 2, out, err)
    svc = "127.0.0.1:%d" % o.port
    assert "service %s wants TLS (smtpd_tls_security_level = encrypt) but " \
        "has no certificate: set smtpd_tls_cert_file and " \
        "smtpd_tls_key_file, or smtpd_tls_chain_files" % svc \
        in lines(out, "error")


def test_unreadable_certificate_file(ostia_factory, certs):
    o = ostia_factory(main_cf={})
    missing = os.path.join(o.tmpdir, "no-such-cert.pem")
    o.write_main_cf(tls_main(certs, missing, certs.leaf_key))
    rc, out, err = run_check(o)
    assert_status(rc, 2, out, err)
    assert "%s: cannot open: No such file or directory" % missing \
        in lines(out, "error")


def test_files_shared_by_services_are_checked_once(ostia_factory, certs):
    o = ostia_factory(
        main_cf=tls_main(certs, certs.leaf_chain, certs.leaf_key),
        master_cf=("127.0.0.1:@port:smtp@ inet n - n - 1 smtpd\n"
                   "127.0.0.1:@port:smtps@ inet n - n - 1 smtpd "
                   "-o smtpd_tls_wrappermode=yes\n"
                   "127.0.0.1:@port:self@ inet n - n - 1 smtpd "
                   "-o smtpd_tls_cert_file=%s -o smtpd_tls_key_file=%s\n"
                   "127.0.0.1:@port:plain@ inet n - n - 1 smtpd "
                   "-o smtpd_tls_security_level=none\n"
                   % (certs.selfsigned_cert, certs.selfsigned_key)))
    rc, out, err = run_check(o)
    assert_status(rc, 1, out, err)
    smtp, smtps, selfp = (o.ports[n] for n in ("smtp", "smtps", "self"))
    assert "TLS: 3 smtpd services with TLS on:" in out
    assert "127.0.0.1:%d (inet, implicit TLS; smtpd_tls_wrappermode = yes)" \
        % smtps in out
    assert "127.0.0.1:%d" % o.ports["plain"] not in out
    heading = ("certificate %s, key %s (smtpd_tls_cert_file; services "
               "127.0.0.1:%d, 127.0.0.1:%d):" % (certs.leaf_chain,
                                                  certs.leaf_key, smtp,
                                                  smtps))
    assert out.count("certificate %s," % certs.leaf_chain) == 1, out
    assert heading in out, out
    assert "(smtpd_tls_cert_file; service 127.0.0.1:%d):" % selfp in out
    assert summary(out) == (0, 2)


def test_no_tls_service(ostia_factory):
    o = ostia_factory(main_cf={})
    rc, out, err = run_check(o)
    assert_status(rc, 0, out, err)
    assert "TLS: no smtpd service has TLS on" in out


def test_legacy_use_tls_turns_tls_on(ostia_factory, certs):
    p = tls_main(certs, certs.leaf_chain, certs.leaf_key,
                 smtpd_use_tls="yes")
    del p["smtpd_tls_security_level"]
    o = ostia_factory(main_cf=p)
    rc, out, err = run_check(o)
    assert_status(rc, 1, out, err)
    assert "STARTTLS offered; smtpd_use_tls = yes" in out


def key_chain_file(directory, name, key, chain):
    """A smtpd_tls_chain_files style file: key, certificate, chain."""
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        for p in (key, chain):
            with open(p) as g:
                f.write(g.read())
    os.chmod(path, 0o600)
    return path


def test_sni_map_certificates_are_checked_by_name(ostia_factory, certs):
    o = ostia_factory(main_cf={})
    other = key_chain_file(o.tmpdir, "other.pem", certs.other_key,
                           certs.other_chain)
    table = os.path.join(o.tmpdir, "sni")
    with open(table, "w") as f:
        f.write("other.example.test %s\n" % other)
        # The wrong file for this name: a warning.
        f.write("wrong.example.test %s\n" % certs.leaf_key_chain)
    o.write_main_cf(tls_main(certs, certs.leaf_chain, certs.leaf_key,
                             tls_server_sni_maps="texthash:" + table))
    rc, out, err = run_check(o)
    assert_status(rc, 1, out, err)
    assert lines(out, "error") == []
    assert "certificate %s (tls_server_sni_maps; service" % other in out
    assert "SNI name other.example.test is among its names" \
        in lines(out, "ok")
    assert "SNI name wrong.example.test is not among the certificate's " \
        "names (mail.example.test, localhost, 127.0.0.1, ::1): clients " \
        "that connect by that name and check it refuse the certificate" \
        in lines(out, "warning")
    # A table that cannot be read is an error.
    o.write_main_cf(tls_main(certs, certs.leaf_chain, certs.leaf_key,
                             tls_server_sni_maps="texthash:" + table + "-no"))
    rc, out, err = run_check(o)
    assert_status(rc, 2, out, err)
    assert any(e.startswith("service 127.0.0.1:%d: tls_server_sni_maps "
                            "cannot be read:" % o.port)
               for e in lines(out, "error")), out


def test_client_certificate_settings_that_cannot_work(ostia_factory, certs):
    """Accepted by smtpd, but useless: smtpd_tls_req_ccert where TLS is
    optional, permit_tls_all_clientcerts with no CA to verify with,
    certificate checks with none asked for, permit_tls_clientcerts with
    an empty relay_clientcerts.  Warnings, each naming the fix."""
    o = ostia_factory(
        main_cf=tls_main(certs, certs.leaf_chain, certs.leaf_key,
                         smtpd_tls_CAfile="",
                         smtpd_relay_restrictions="permit_tls_all_clientcerts,"
                         " permit_tls_clientcerts, reject_unauth_destination",
                         smtpd_client_restrictions="check_ccert_access "
                         "static:OK"),
        master_cf=("127.0.0.1:@port:smtp@ inet n - n - 1 smtpd\n"
                   "  -o smtpd_tls_req_ccert=yes\n"
                   "127.0.0.1:@port:ask@ inet n - n - 1 smtpd\n"
                   "  -o smtpd_tls_ask_ccert=yes\n"
                   "127.0.0.1:@port:req@ inet n - n - 1 smtpd\n"
                   "  -o smtpd_tls_wrappermode=yes\n"
                   "  -o smtpd_tls_req_ccert=yes\n"))
    rc, out, err = run_check(o)
    assert_status(rc, 2, out, err)
    warnings = "\n".join(lines(out, "warning"))
    errors = "\n".join(lines(out, "error"))
    assert "smtpd_tls_req_ccert = yes is ignored here: TLS is optional" \
        in warnings, out
    assert "smtpd_relay_restrictions names permit_tls_all_clientcerts, but " \
        "neither smtpd_tls_CAfile nor smtpd_tls_CApath is set" in warnings, out
    assert "smtpd_client_restrictions names check_ccert_access, but no " \
        "client certificate is asked for (set smtpd_tls_ask_ccert = yes)" \
        in warnings, out
    assert "smtpd_relay_restrictions names permit_tls_clientcerts, but " \
        "relay_clientcerts is empty: it never permits" in warnings, out
    assert "smtpd_tls_req_ccert = yes, but neither smtpd_tls_CAfile nor " \
        "smtpd_tls_CApath is set: no client certificate can verify, so " \
        "every client is refused" in errors, out


# ------------------------------------------------------------ --live

def live_instance(ostia_factory, certs, auth_only="yes"):
    return ostia_factory(
        main_cf=tls_main(certs, certs.leaf_chain, certs.leaf_key,
                         smtpd_tls_auth_only=auth_only),
        master_cf=("127.0.0.1:@port:smtp@ inet n - n - 1 smtpd\n"
                   "127.0.0.1:@port:smtps@ inet n - n - 1 smtpd "
                   "-o smtpd_tls_wrappermode=yes\n"))


def test_live_starttls_and_implicit_tls(ostia_factory, certs):
    o = live_instance(ostia_factory, certs)
    o.start_foreground()
    rc, out, err = run_check(o, "--live")
    assert_status(rc, 1, out, err)
    assert lines(out, "error") == []
    sections = out.split("\nlive: ")[1:]
    assert len(sections) == 2, out
    starttls, implicit = sections
    assert starttls.startswith("service 127.0.0.1:%d (STARTTLS offered):"
                               % o.ports["smtp"]), starttls
    assert implicit.startswith("service 127.0.0.1:%d (implicit TLS):"
                               % o.ports["smtps"]), implicit
    for s in (starttls, implicit):
        assert re.search(r"ok: TLS handshake done: TLSv1\.[23], cipher \S+",
                         s), s
        assert "chain served (2 certificates):" in s
        assert "0: subject O=Ostia Test, CN=%s" % HOST in s
        assert "1: subject O=Ostia Test, CN=Ostia Test Intermediate CA" in s
        assert "issuer O=Ostia Test, CN=Ostia Test Root CA" in s
        assert "the served chain does not verify against the system trust " \
            "store" in s
        assert "trusted only through smtpd_tls_CAfile" in s
        assert "ok: EHLO over TLS answered" in s
    # AUTH is not implemented yet: never offered before TLS.
    assert "ok: no AUTH before TLS (smtpd_tls_auth_only = yes)" in starttls


def test_live_sni_names_are_asked_for(ostia_factory, certs):
    o = ostia_factory(main_cf={})
    other = key_chain_file(o.tmpdir, "other.pem", certs.other_key,
                           certs.other_chain)
    table = os.path.join(o.tmpdir, "sni")
    with open(table, "w") as f:
        f.write("other.example.test %s\n" % other)
    o.write_main_cf(tls_main(certs, certs.leaf_chain, certs.leaf_key,
                             tls_server_sni_maps="texthash:" + table))
    o.start_foreground()
    rc, out, err = run_check(o, "--live")
    assert_status(rc, 1, out, err)
    assert lines(out, "error") == []
    sections = out.split("\nlive: ")[1:]
    assert len(sections) == 2, out
    default, named = sections
    assert default.startswith("service 127.0.0.1:%d (STARTTLS offered):"
                              % o.port), default
    assert "0: subject O=Ostia Test, CN=%s" % HOST in default
    assert "ok: the served certificate names myhostname %s" % HOST \
        in default
    assert named.startswith("service 127.0.0.1:%d (STARTTLS offered, SNI "
                            "name other.example.test):" % o.port), named
    assert "0: subject O=Ostia Test, CN=other.example.test" in named
    assert "ok: the served certificate names SNI name other.example.test" \
        in named


def test_live_self_signed_server_is_reported(ostia_factory, certs):
    o = ostia_factory(
        main_cf=tls_main(certs, certs.selfsigned_cert, certs.selfsigned_key))
    o.start_foreground()
    rc, out, err = run_check(o, "--live")
    assert_status(rc, 1, out, err)
    live = out.split("\nlive: ", 1)[1]
    assert "chain served (1 certificate):" in live
    assert "self-signed certificate" in live
    assert "our certificate is self-signed" in live
    assert "'unknown ca'" in live


def test_live_needs_a_running_system(ostia_factory, certs):
    o = live_instance(ostia_factory, certs)
    rc, out, err = run_check(o, "--live")
    assert_status(rc, 2, out, err)
    assert "the mail system is not running, so --live has nothing to " \
        "connect to" in out
