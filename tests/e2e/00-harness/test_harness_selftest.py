# SPDX-License-Identifier: MIT
"""Self-tests of the e2e harness (ostia_harness.py, conftest.py).

Nothing here needs the real ostia binary: process handling is exercised
against a small fake `ostia` written to a temporary directory, which
understands run/start/stop/status/conf/check the way the real one is
specified to.
"""

import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import threading
import time

import pytest

import ostia_harness as h

E2E_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = "/usr/bin/python3"


# ------------------------------------------------------------ free ports

def test_free_ports_distinct_and_bindable():
    ports = h.free_ports(20)
    assert len(ports) == 20
    assert len(set(ports)) == 20
    for p in ports:
        assert 1024 <= p <= 65535
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", p))
            s.listen(1)
    assert isinstance(h.free_port(), int)


# ------------------------------------------------------------ peers

def test_require_peer_found():
    assert h.require_peer("sh") == shutil.which("sh")
    assert h.require_binary("sh") == shutil.which("sh")


def test_require_peer_missing_skips_with_reason():
    with pytest.raises(pytest.skip.Exception) as exc:
        h.require_peer("no-such-peer-e2e")
    assert "peer no-such-peer-e2e is not installed" in str(exc.value)


def test_find_binary_searches_sbin_outside_path(monkeypatch):
    target = None
    for d in h.EXTRA_BIN_DIRS:
        if os.path.isdir(d):
            for name in sorted(os.listdir(d)):
                p = os.path.join(d, name)
                if os.path.isfile(p) and os.access(p, os.X_OK):
                    target = name
                    break
        if target:
            break
    if target is None:
        pytest.fail("no executable in %s to test with" % (h.EXTRA_BIN_DIRS,))
    monkeypatch.setenv("PATH", "/nonexistent")
    found = h.find_binary(target)
    assert found is not None and os.path.basename(found) == target
    assert h.find_binary("no-such-peer-e2e") is None


def test_ostia_bin_unset_skips(monkeypatch):
    monkeypatch.delenv("OSTIA_BIN", raising=False)
    with pytest.raises(pytest.skip.Exception) as exc:
        h.ostia_bin()
    assert "OSTIA_BIN is not set" in str(exc.value)


def test_ostia_bin_missing_file_fails(monkeypatch, tmp_path):
    monkeypatch.setenv("OSTIA_BIN", str(tmp_path / "nope"))
    with pytest.raises(pytest.fail.Exception):
        h.ostia_bin()


def test_ostia_user_exists(ostia_user):
    import pwd
    pw = pwd.getpwnam(ostia_user)
    if os.geteuid() == 0:
        assert ostia_user == h.TEST_USER
        assert pw.pw_uid != 0
    else:
        assert pw.pw_uid == os.geteuid()


# ------------------------------------------------------------ TLS

def _openssl(*args):
    return subprocess.run(["openssl", *args], capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("key_type", ["rsa", "ec"])
def test_ca_issue_verifies_with_san(tmp_path, key_type):
    ca = h.make_ca(tmp_path / "ca")
    cert, key, chain = ca.issue("mx.test.example",
                                sans=["mx.test.example", "127.0.0.1"],
                                key_type=key_type)
    r = _openssl("verify", "-CAfile", ca.ca_cert, cert)
    assert r.returncode == 0 and r.stdout.strip().endswith(": OK"), r
    r = _openssl("x509", "-in", cert, "-noout", "-ext",
                 "subjectAltName,extendedKeyUsage,basicConstraints")
    assert r.returncode == 0, r
    assert "DNS:mx.test.example" in r.stdout
    assert "IP Address:127.0.0.1" in r.stdout
    assert "TLS Web Server Authentication" in r.stdout
    assert "CA:FALSE" in r.stdout
    r = _openssl("x509", "-in", ca.ca_cert, "-noout", "-ext",
                 "basicConstraints,keyUsage")
    assert "CA:TRUE" in r.stdout and "Certificate Sign" in r.stdout
    expect = "id-ecPublicKey" if key_type == "ec" else "rsaEncryption"
    assert expect in _openssl("x509", "-in", cert, "-noout",
                              "-text").stdout
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    with open(chain) as f:
        pem = f.read()
    with open(cert) as f1, open(ca.ca_cert) as f2:
        assert pem == f1.read() + f2.read()
    # The key belongs to the certificate.
    assert (_openssl("x509", "-in", cert, "-noout", "-pubkey").stdout
            == _openssl("pkey", "-in", key, "-pubout").stdout)


def test_ca_other_ca_does_not_verify(tmp_path):
    ca1 = h.make_ca(tmp_path / "one")
    ca2 = h.make_ca(tmp_path / "two")
    cert, _, _ = ca1.issue("a.example")
    r = _openssl("verify", "-CAfile", ca2.ca_cert, cert)
    assert r.returncode != 0


def test_ca_rejects_bad_input(tmp_path):
    ca = h.make_ca(tmp_path)
    with pytest.raises(ValueError):
        ca.issue("a/CN=evil")
    with pytest.raises(ValueError):
        ca.issue("a.example", key_type="dsa")


def _tls_handshake(cert_chain, key, cafile, hostname):
    """Handshake python's ssl client against a server using the cert.

    Returns None on success, else the client-side exception.
    """
    a, b = socket.socketpair()
    a.settimeout(10)
    b.settimeout(10)
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(cert_chain, key)

    def serve():
        try:
            with sctx.wrap_socket(a, server_side=True) as s:
                s.recv(1)
        except (ssl.SSLError, OSError):
            pass

    t = threading.Thread(target=serve)
    t.start()
    err = None
    try:
        with h.client_tls_context(cafile).wrap_socket(
                b, server_hostname=hostname) as c:
            c.sendall(b"x")
    except ssl.SSLError as exc:
        err = exc
    finally:
        b.close()
        t.join(10)
        a.close()
    return err


def test_ca_cert_works_for_tls(tmp_path):
    ca = h.make_ca(tmp_path)
    cert, key, chain = ca.issue("mx.test.example", key_type="ec")
    assert _tls_handshake(chain, key, ca.ca_cert, "mx.test.example") is None
    err = _tls_handshake(chain, key, ca.ca_cert, "other.example")
    assert isinstance(err, ssl.SSLCertVerificationError)


def test_self_signed(tmp_path):
    cert, key = h.self_signed(tmp_path, "self.example",
                              sans=["self.example", "::1"])
    r = _openssl("x509", "-in", cert, "-noout", "-subject", "-issuer",
                 "-ext", "subjectAltName")
    assert "subject=CN = self.example" in r.stdout
    assert "issuer=CN = self.example" in r.stdout
    assert "DNS:self.example" in r.stdout and "IP Address:0:0:0:0:0:0:0:1" \
        in r.stdout
    assert _tls_handshake(cert, key, cert, "self.example") is None


# ------------------------------------------------------------ SMTP client

@pytest.fixture
def smtp_pair():
    a, b = socket.socketpair()
    client = h.SmtpClient(b, timeout=2)
    yield a, client
    a.close()
    client.close()


def test_smtp_read_reply_multiline(smtp_pair):
    server, c = smtp_pair
    server.sendall(b"220-test.example hello\r\n220 ready\r\n250 ok\r\n")
    r = c.read_reply()
    assert r.code == 220
    assert r.lines == ["test.example hello", "ready"]
    assert r.text == "test.example hello\nready"
    assert c.expect(250).lines == ["ok"]


def test_smtp_read_reply_byte_by_byte(smtp_pair):
    server, c = smtp_pair
    data = b"250-a\r\n250-b\r\n250 c\r\n"

    def trickle():
        for i in range(len(data)):
            server.sendall(data[i:i + 1])
            time.sleep(0.002)

    t = threading.Thread(target=trickle)
    t.start()
    r = c.read_reply()
    t.join()
    assert (r.code, r.lines) == (250, ["a", "b", "c"])


def test_smtp_send_line(smtp_pair):
    server, c = smtp_pair
    c.send_line("EHLO client.example")
    c.send_line(b"NOOP")
    assert server.recv(100) == b"EHLO client.example\r\nNOOP\r\n"


@pytest.mark.parametrize("data,exc,text", [
    (b"hello\r\n", h.SmtpError, "malformed"),
    (b"250-a\r\n251 b\r\n", h.SmtpError, "code changed"),
    (b"250-a\r\n", h.SmtpError, "timed out"),
    (b"", h.SmtpError, "timed out"),
    (b"2500 x\r\n", h.SmtpError, "malformed"),
])
def test_smtp_read_reply_errors(smtp_pair, data, exc, text):
    server, c = smtp_pair
    server.sendall(data)
    t0 = time.monotonic()
    with pytest.raises(exc, match=text):
        c.read_reply(timeout=0.3)
    assert time.monotonic() - t0 < 2


def test_smtp_eof(smtp_pair):
    server, c = smtp_pair
    server.sendall(b"421 bye\r\n")
    server.shutdown(socket.SHUT_WR)
    assert c.expect(4).code == 421
    with pytest.raises(EOFError):
        c.read_reply()
    assert c.wait_closed(0.5)


def test_smtp_starttls_refuses_buffered_cleartext(smtp_pair):
    server, c = smtp_pair
    # Sent before the client reads, so one recv() returns both lines.
    server.sendall(b"220 go ahead\r\n250 injected\r\n")
    c.expect(220)
    assert c.buffered() == b"250 injected\r\n"
    with pytest.raises(h.SmtpError, match="cleartext"):
        c.starttls(h.client_tls_context(verify=False))


def test_connect_smtp_real_socket():
    with socket.socket() as ls:
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        port = ls.getsockname()[1]
        c = h.connect_smtp("127.0.0.1", port, timeout=2)
        conn, _ = ls.accept()
        with conn, c:
            conn.sendall(b"220 hi\r\n")
            assert c.expect(220).lines == ["hi"]


# ------------------------------------------------------------ fake ostia

FAKE_OSTIA = r'''#!/usr/bin/python3
# Fake ostia for the harness self-test.  main.cf parameter fake_mode:
# "die" (run fails at startup), "stubborn" (master ignores SIGTERM).
import os, signal, subprocess, sys, time

def params(confdir):
    out = {}
    with open(os.path.join(confdir, "main.cf")) as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                out[k.strip()] = v.strip()
    return out

def log(p, text):
    with open(p["maillog_file"], "a") as f:
        f.write("Nov 28 08:30:01.123456 test ostia/master[%d]: %s\n"
                % (os.getpid(), text))

def pidfile(p):
    return os.path.join(p["queue_directory"], "pid", "master.pid")

def read_pid(p):
    try:
        pid = int(open(pidfile(p)).read())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None

def master(p):
    mode = p.get("fake_mode", "")
    if mode == "die":
        log(p, "fatal: fake failure")
        sys.stderr.write("ostia: fatal: fake failure\n")
        sys.exit(1)
    os.makedirs(os.path.dirname(pidfile(p)), exist_ok=True)
    child = subprocess.Popen(["sleep", "300"])
    def term(sig, frame):
        log(p, "info: terminating on signal %d" % sig)
        child.terminate()
        child.wait()
        os.unlink(pidfile(p))
        sys.exit(0)
    signal.signal(signal.SIGTERM,
                  signal.SIG_IGN if mode == "stubborn" else term)
    with open(pidfile(p), "w") as f:
        f.write("%10d\n" % os.getpid())
    log(p, "info: daemon started")
    while True:
        time.sleep(1)

def main():
    confdir, cmd, args = sys.argv[2], sys.argv[3], sys.argv[4:]
    p = params(confdir)
    if cmd == "run":
        master(p)
    elif cmd == "status":
        pid = read_pid(p)
        print("ostia: the mail system is running: PID: %d" % pid if pid
              else "ostia: the mail system is not running")
        sys.exit(0 if pid else 1)
    elif cmd == "start":
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                fd = os.open(os.devnull, os.O_RDWR)
                for i in (0, 1, 2):
                    os.dup2(fd, i)
                master(p)
            os._exit(0)
        os.wait()
        for _ in range(100):
            if read_pid(p):
                sys.exit(0)
            time.sleep(0.05)
        sys.exit(1)
    elif cmd == "stop":
        pid = read_pid(p)
        if not pid:
            sys.exit(1)
        os.kill(pid, signal.SIGTERM)
        sys.exit(0)
    elif cmd == "conf":
        for name in args:
            print("%s = %s" % (name, p.get(name, "")))
    elif cmd == "check":
        sys.exit(0)
    else:
        sys.exit(2)

main()
'''


@pytest.fixture(scope="module")
def fake_bin(tmp_path_factory):
    d = tmp_path_factory.mktemp("fakebin")
    path = d / "ostia"
    path.write_text(FAKE_OSTIA)
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def fake(fake_bin, ostia_factory, monkeypatch):
    monkeypatch.setenv("OSTIA_BIN", fake_bin)
    return ostia_factory


def _cf(path):
    with open(path) as f:
        return f.read()


def test_config_files(fake, ostia_user):
    o = fake(main_cf={"myhostname": "mx.example", "extra_list": ["a", "b"],
                      "flag": True, "service_throttle_time": None})
    assert stat.S_IMODE(os.stat(o.tmpdir).st_mode) == 0o755
    main = _cf(o.main_cf_path)
    lines = main.splitlines()
    t = o.tmpdir
    for want in ["queue_directory = %s/spool" % t,
                 "data_directory = %s/data" % t,
                 "maillog_file = %s/log/ostia.log" % t,
                 "mail_owner = %s" % ostia_user,
                 "inet_interfaces = 127.0.0.1",
                 "myhostname = mx.example",
                 "extra_list = a, b", "flag = yes"]:
        assert want in lines
    assert "service_throttle_time" not in main
    assert "myhostname = test.example" not in main
    port = o.ports["smtp"]
    assert o.port == port
    assert _cf(o.master_cf_path) == \
        "127.0.0.1:%d inet n - n - 1 smtpd\n" % port
    assert o.get_param("myhostname") == "mx.example"

    o.set_param("myhostname", "other.example")
    o.set_param("inet_interfaces", None)
    main = _cf(o.main_cf_path)
    assert "myhostname = other.example" in main.splitlines()
    assert "inet_interfaces" not in main
    assert "mail_owner = %s" % ostia_user in main.splitlines()

    o.write_main_cf({"relayhost": "[127.0.0.1]:2525"})
    main = _cf(o.main_cf_path)
    assert "myhostname = test.example" in main.splitlines()
    assert "relayhost = [127.0.0.1]:2525" in main.splitlines()
    assert "inet_interfaces = 127.0.0.1" in main.splitlines()


def test_master_cf_port_placeholders(fake):
    o = fake(master_cf="127.0.0.1:@port:smtp@ inet n - n - - smtpd\n"
                       "127.0.0.1:@port:submission@ inet n - n - - smtpd\n"
                       "  -o { smtpd_tls_security_level = encrypt }\n"
                       "127.0.0.1:@port:smtp@ inet n - n - - smtpd\n")
    assert set(o.ports) == {"smtp", "submission"}
    assert o.ports["smtp"] != o.ports["submission"]
    text = _cf(o.master_cf_path)
    assert "@port" not in text
    assert text.count("127.0.0.1:%d " % o.ports["smtp"]) == 2
    assert "-o { smtpd_tls_security_level = encrypt }" in text


def test_cli_check_raises_with_output(fake):
    o = fake()
    assert o.cli("check").returncode == 0
    r = o.cli("status")
    assert r.returncode == 1 and "not running" in r.stdout
    with pytest.raises(AssertionError, match="exited 1"):
        o.cli("status", check=True)


def test_foreground_lifecycle(fake):
    o = fake()
    assert not o.is_running()
    o.start_foreground()
    assert o.is_running()
    assert o.pid_of_master() == o.proc.pid == o.master_pid()
    kids = o.child_pids()
    assert len(kids) == 1
    m = o.wait_for_log(r"ostia/master\[%d\]: info: daemon started$"
                       % o.proc.pid)
    mark = o.log_mark()
    assert mark >= m.end()
    with pytest.raises(AssertionError, match="no match.*daemon started"):
        o.wait_for_log(r"daemon started", timeout=0.2, start=mark)
    assert o.stop() == 0
    o.wait_for_log(r"info: terminating on signal 15", start=mark)
    assert not o.is_running()
    assert o.pid_of_master() is None
    h.wait_until(lambda: not h._alive(kids[0]), 5, what="child exit")


def test_foreground_startup_failure_shows_log(fake):
    o = fake(main_cf={"fake_mode": "die"})
    with pytest.raises(AssertionError) as exc:
        o.start_foreground()
    msg = str(exc.value)
    assert "exited with 1 during startup" in msg
    assert "fatal: fake failure" in msg
    assert "ostia: fatal: fake failure" in msg  # run.out


def test_stop_timeout_and_close_kill_group(fake):
    o = fake(main_cf={"fake_mode": "stubborn"})
    o.start_foreground()
    master = o.proc.pid
    kid = o.child_pids()[0]
    with pytest.raises(AssertionError, match="did not exit"):
        o.stop(timeout=0.5)
    assert not h._alive(master)
    h.wait_until(lambda: not h._alive(kid), 5, what="child killed")


def test_close_kills_foreground(fake):
    o = fake(main_cf={"fake_mode": "stubborn"})
    o.start_foreground()
    master, kid = o.proc.pid, o.child_pids()[0]
    t0 = time.monotonic()
    o.close(grace=0.5)
    assert time.monotonic() - t0 < 3
    o.close()  # idempotent
    assert not h._alive(master)
    h.wait_until(lambda: not h._alive(kid), 5, what="child killed")


def test_daemon_lifecycle(fake):
    o = fake()
    o.start_daemon()
    pid = o.pid_of_master()
    assert pid and pid != os.getpid() and o.proc is None
    assert o.master_pid() == pid
    assert len(o.child_pids()) == 1
    o.wait_for_log(r"master\[%d\]: info: daemon started" % pid)
    o.stop_daemon()
    assert not h._alive(pid)
    assert not o.is_running()


def test_close_kills_daemon(fake):
    o = fake(main_cf={"fake_mode": "stubborn"})
    o.start_daemon()
    pid = o.pid_of_master()
    kid = o.child_pids()[0]
    o.close(grace=0.5)
    h.wait_until(lambda: not h._alive(pid) and not h._alive(kid), 5,
                 what="daemon and child killed")


def test_factory_removes_tmpdir(fake_bin, ostia_user, monkeypatch):
    # Drive the fixture's generator by hand to observe its teardown.
    import conftest

    class Node:
        pass

    class Request:
        node = Node()

    monkeypatch.setenv("OSTIA_BIN", fake_bin)
    monkeypatch.delenv("OSTIA_E2E_KEEP", raising=False)
    gen = conftest.ostia_factory.__wrapped__(Request(), ostia_user)
    make = next(gen)
    o = make()
    o.start_foreground()
    pid = o.proc.pid
    with pytest.raises(StopIteration):
        next(gen)
    assert not os.path.exists(o.tmpdir)
    assert not h._alive(pid)


# ------------------------------------------------------------ exit status

def test_skip_exit_status_table():
    import conftest
    f = conftest.skip_exit_status
    E = pytest.ExitCode
    cases = [
        (E.OK, 0, 0, 0),
        (E.OK, 1, 0, 77),
        (E.OK, 3, 0, 77),
        (E.TESTS_FAILED, 1, 1, 1),
        (E.TESTS_FAILED, 0, 1, 1),
        (E.NO_TESTS_COLLECTED, 0, 0, 1),
        (E.NO_TESTS_COLLECTED, 1, 0, 77),
        (E.INTERRUPTED, 1, 0, 2),
        (E.INTERNAL_ERROR, 0, 0, 3),
        (E.USAGE_ERROR, 1, 0, 4),
    ]
    for status, skipped, failed, want in cases:
        assert f(status, skipped, failed) == want, (status, skipped, failed)


SCENARIOS = {
    "pass": ("import os\n"
             "def test_rootdir_is_e2e(request):\n"
             "    here = os.path.dirname(os.path.abspath(__file__))\n"
             "    assert str(request.config.rootpath) == "
             "os.path.dirname(here)\n", 0),
    "fail": ("def test_a():\n    assert False\n", 1),
    "skip": ("import pytest\n"
             "def test_a():\n    pytest.skip('peer x is not installed')\n",
             77),
    "pass_and_skip": ("import pytest\n"
                      "def test_a():\n    pass\n"
                      "@pytest.mark.skip(reason='no')\n"
                      "def test_b():\n    pass\n", 77),
    "fail_and_skip": ("import pytest\n"
                      "def test_a():\n    assert 0\n"
                      "def test_b():\n    pytest.skip('no')\n", 1),
    "module_skip": ("import pytest\n"
                    "pytest.skip('no peer', allow_module_level=True)\n"
                    "def test_a():\n    pass\n", 77),
    "empty": ("x = 1\n", 1),
    "fixture_error": ("import pytest\n"
                      "@pytest.fixture\n"
                      "def broken():\n    raise RuntimeError('x')\n"
                      "def test_a(broken):\n    pass\n", 1),
    "teardown_error_after_skip": (
        "import pytest\n"
        "@pytest.fixture\n"
        "def bad():\n    yield\n    raise RuntimeError('x')\n"
        "def test_a(bad):\n    pass\n"
        "def test_b():\n    pytest.skip('no')\n", 1),
    "xfail": ("import pytest\n"
              "@pytest.mark.xfail(reason='known')\n"
              "def test_a():\n    assert 0\n"
              "def test_b():\n    pass\n", 0),
    "collect_error": ("import no_such_module_e2e\n"
                      "def test_a():\n    pass\n", 2),
    "needs_ostia": ("from ostia_harness import Ostia\n"
                    "def test_a(ostia_factory):\n"
                    "    ostia_factory().start_foreground()\n", 77),
}


@pytest.fixture(scope="module")
def mini_tree(tmp_path_factory):
    """A copy of tests/e2e's harness files with one dir per scenario."""
    root = tmp_path_factory.mktemp("e2e")
    for name in ("pytest.ini", "conftest.py", "ostia_harness.py"):
        shutil.copy(os.path.join(E2E_DIR, name), root / name)
    for i, (name, (code, _)) in enumerate(sorted(SCENARIOS.items())):
        d = root / ("%02d-%s" % (i + 1, name.replace("_", "-")))
        d.mkdir()
        (d / ("test_%s.py" % name)).write_text(code)
    return root


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_session_exit_status(mini_tree, name):
    want = SCENARIOS[name][1]
    d = [p for p in mini_tree.iterdir()
         if p.is_dir() and p.name[3:] == name.replace("_", "-")][0]
    env = dict(os.environ)
    env.pop("OSTIA_BIN", None)
    env.pop("PYTEST_ADDOPTS", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    r = subprocess.run([PYTHON, "-m", "pytest", "-q", "-rs", "-p",
                        "no:cacheprovider", str(d)],
                       capture_output=True, text=True, timeout=120,
                       env=env, cwd=str(mini_tree))
    out = r.stdout + r.stderr
    assert r.returncode == want, out
    if want == 77:
        assert "exit status 77" in out
    if name == "needs_ostia":
        assert re.search(r"SKIPPED .*OSTIA_BIN is not set", out), out
