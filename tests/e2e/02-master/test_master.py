# SPDX-License-Identifier: MIT
"""The master process: start, status, stop, reload, supervision, locking.

Each test starts the real `ostia` from the build tree in its own
temporary directory, on free loopback ports, and drives it with real
clients (sockets, the ostia CLI, signals).
"""

import os
import re
import signal
import socket
import threading
import time

import pytest

from ostia_harness import connect_smtp, wait_until


def uid_of(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return [int(x) for x in line.split()[1:]]
    raise AssertionError("no Uid line for %d" % pid)


def all_ready(o):
    """Wait until every child of every service has dropped privileges and
    told the master it is ready."""
    def ready():
        st = o.cli("status").stdout
        svcs = [l for l in st.splitlines() if l.startswith("service ")]
        if not svcs:
            return False
        for l in svcs:
            m = re.search(r"children=(\d+)/(\d+) ready=(\d+)", l)
            if not m or not (m.group(1) == m.group(2) == m.group(3)):
                return False
        return True
    wait_until(ready, what="all children ready")


def smtpd_pids(o):
    """Children of the master that run an inet (smtpd) service; the
    queue process is left out."""
    out = []
    for pid in o.child_pids():
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"child" in argv and argv[argv.index(b"child") + 2] == b"inet":
            out.append(pid)
    return out


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except OSError:
        return True


def greeting(port):
    with connect_smtp("127.0.0.1", port) as c:
        return c.read_reply()


def service_line(status_text, name):
    for line in status_text.splitlines():
        if line.startswith("service %s/" % name):
            return line
    raise AssertionError("no service %s in status:\n%s" % (name, status_text))


def test_run_status_and_graceful_stop(ostia_factory):
    o = ostia_factory()
    o.start_foreground()
    st = o.cli("status", check=True).stdout
    assert "is running: master pid %d" % o.proc.pid in st
    line = service_line(st, "127.0.0.1:%d" % o.port)
    assert "state=running" in line and "children=1/1" in line
    assert "listen=127.0.0.1:%d" % o.port in line

    r = greeting(o.port)
    assert r.code == 220
    assert r.text.startswith("test.example ESMTP Ostia")
    o.wait_for_log(r"ostia/smtpd\[\d+\]: connect from unknown\[127\.0\.0\.1\]")

    rc = o.stop()
    assert rc == 0
    o.wait_for_log(r"ostia/master\[\d+\]: stopping on signal 15")
    o.wait_for_log(r"ostia/master\[\d+\]: stopped")
    assert o.cli("status").returncode == 1
    # The listener is closed with the master.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", o.port), timeout=2)


def test_sigint_stops_like_ctrl_c(ostia_factory):
    o = ostia_factory()
    o.start_foreground()
    children = o.child_pids()
    assert children
    assert o.stop(sig=signal.SIGINT) == 0
    wait_until(lambda: not any(os.path.exists("/proc/%d" % p)
                               for p in children), what="children gone")


def test_start_stop_daemon(ostia_factory):
    o = ostia_factory()
    r = o.cli("start", check=True)
    assert "running" in r.stdout
    pid = o.pid_of_master()
    assert pid and os.path.exists("/proc/%d" % pid)
    assert greeting(o.port).code == 220
    r = o.cli("stop", check=True)
    assert "stopped" in r.stdout
    assert not os.path.exists("/proc/%d" % pid) or \
        open("/proc/%d/stat" % pid).read().split()[2] == "Z"
    r = o.cli("stop")
    assert r.returncode == 1 and "not running" in r.stderr


def test_second_master_is_refused(ostia_factory):
    o = ostia_factory()
    o.start_foreground()
    pid = o.proc.pid
    r = o.cli("run", timeout=20)
    assert r.returncode == 1
    text = r.stderr + o.log_text()
    assert re.search(r"another Ostia master \(pid %d\) is already running"
                     % pid, text), text
    r = o.cli("start", timeout=20)
    assert r.returncode == 1 and "already running (pid %d)" % pid in r.stderr
    # The first one is untouched.
    assert o.cli("status").returncode == 0
    assert greeting(o.port).code == 220


@pytest.mark.skipif(os.geteuid() != 0, reason="privilege drop needs root")
def test_children_run_as_mail_owner(ostia_factory, ostia_user):
    import pwd
    o = ostia_factory()
    o.start_foreground()
    all_ready(o)
    want = pwd.getpwnam(ostia_user).pw_uid
    assert uid_of(o.proc.pid) == [0, 0, 0, 0]
    kids = o.child_pids()
    assert kids
    for pid in kids:
        assert uid_of(pid) == [want] * 4
    # Directories were made with safe owners and modes.
    st = os.stat(os.path.join(o.queue_dir, "private"))
    assert st.st_uid == want and (st.st_mode & 0o777) == 0o700
    st = os.stat(os.path.join(o.queue_dir, "pid"))
    assert st.st_uid == 0 and (st.st_mode & 0o022) == 0


def test_crashed_child_is_restarted(ostia_factory):
    o = ostia_factory()
    o.start_foreground()
    all_ready(o)
    [victim] = smtpd_pids(o)
    mark = o.log_mark()
    # Under AddressSanitizer a SIGSEGV is caught and becomes exit status
    # 1; a crash by SIGABRT is not, so use that one there.
    if "ASAN_OPTIONS" in os.environ:
        sig, text = signal.SIGABRT, r"6 \(Aborted\)"
    else:
        sig, text = signal.SIGSEGV, r"11 \(Segmentation fault\)"
    os.kill(victim, sig)
    o.wait_for_log(r"child %d \(smtpd\) was killed by signal %s.*"
                   r"restarting it" % (victim, text), start=mark)
    wait_until(lambda: len(smtpd_pids(o)) == 1 and
               smtpd_pids(o)[0] != victim, what="replacement child")
    assert greeting(o.port).code == 220
    st = o.cli("status", check=True).stdout
    assert "restarts=1" in service_line(st, "127.0.0.1:%d" % o.port)

    # A child that exits with an error status is logged as such.
    [second] = smtpd_pids(o)
    mark = o.log_mark()
    os.kill(second, signal.SIGKILL)
    o.wait_for_log(r"child %d \(smtpd\) was killed by signal 9" % second,
                   start=mark)
    wait_until(lambda: len(smtpd_pids(o)) == 1, what="second replacement")


def test_crash_loop_is_reported(ostia_factory):
    o = ostia_factory(main_cf={"service_throttle_time": "1s"})
    o.start_foreground()
    seen = set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for pid in smtpd_pids(o):
            if pid not in seen:
                seen.add(pid)
                os.kill(pid, signal.SIGABRT)
        if re.search(r"is in a crash loop", o.log_text()):
            break
        time.sleep(0.05)
    o.wait_for_log(r"ostia/master\[\d+\]: error: service 127\.0\.0\.1:%d/inet "
                   r"is in a crash loop: its children died 5 times in a row"
                   % o.port, timeout=5)
    st = o.cli("status", check=True).stdout
    assert "state=crash-loop" in service_line(st, "127.0.0.1:%d" % o.port)
    # The master keeps trying, backing off no longer than the throttle.
    wait_until(lambda: len(smtpd_pids(o)) == 1, timeout=5,
               what="restart after the crash loop")
    assert greeting(o.port).code == 220


def test_reload_keeps_listeners_and_applies_changes(ostia_factory):
    o = ostia_factory()
    o.start_foreground()
    all_ready(o)
    old_kids = smtpd_pids(o)
    # A client connected before the reload is served by the old child.
    early = socket.create_connection(("127.0.0.1", o.port), timeout=5)
    o.write_master_cf("127.0.0.1:%d inet n - n - 1 smtpd\n"
                      "127.0.0.1:@port:extra@ inet n - n - 2 smtpd\n"
                      % o.port)
    mark = o.log_mark()
    r = o.reload()
    assert "reload requested" in r.stdout
    o.wait_for_log(r"reload done: configuration generation 1, 4 services",
                   start=mark)
    # Three new children; the old one stays while it still serves the
    # early client.
    wait_until(lambda: len(set(smtpd_pids(o)) - set(old_kids)) == 3,
               what="new children")
    assert greeting(o.port).code == 220
    assert greeting(o.ports["extra"]).code == 220
    st = o.cli("status", check=True).stdout
    assert "generation=1" in st
    assert "children=2/2" in service_line(st, "127.0.0.1:%d" % o.ports["extra"])
    data = early.recv(512)
    assert data.startswith(b"220 ")
    early.sendall(b"QUIT\r\n")
    assert early.recv(512).startswith(b"221 ")
    early.close()
    # Its session over, the old child exits.
    wait_until(lambda: not set(old_kids) & set(smtpd_pids(o)),
               what="old children gone")

    # Removing a service closes its port.
    o.write_master_cf("127.0.0.1:%d inet n - n - 1 smtpd\n" % o.port)
    mark = o.log_mark()
    o.reload()
    o.wait_for_log(r"reload done: configuration generation 2, 3 services",
                   start=mark)
    # Old children close their copies of the socket as they stop.
    wait_until(lambda: refused(o.ports["extra"]), what="extra port closed")
    assert greeting(o.port).code == 220


def test_reload_with_bad_configuration_keeps_running(ostia_factory):
    o = ostia_factory()
    o.start_foreground()
    all_ready(o)
    kids = o.child_pids()
    o.set_param("message_size_limit", "-1")
    # `ostia reload` checks first and does not even ask.
    r = o.reload(check=False)
    assert r.returncode == 1
    assert "message_size_limit" in r.stderr and "reload not requested" in r.stderr
    # A SIGHUP sent by other means is refused by the master itself.
    mark = o.log_mark()
    os.kill(o.proc.pid, signal.SIGHUP)
    o.wait_for_log(r"main\.cf:\d+: invalid value \"-1\" for "
                   r"message_size_limit", start=mark)
    o.wait_for_log(r"reload refused: the configuration in .* has 1 error "
                   r"\(see above\); still running with the previous "
                   r"configuration", start=mark)
    assert o.child_pids() == kids
    assert greeting(o.port).code == 220
    assert "generation=0" in o.cli("status", check=True).stdout


def test_bad_configuration_refuses_start(ostia_factory):
    o = ostia_factory(main_cf={"maximal_queue_lifetime": "4x"})
    r = o.cli("run", timeout=20)
    assert r.returncode == 1
    log = r.stderr + o.log_text()
    assert re.search(r"main\.cf:\d+: invalid value \"4x\" for "
                     r"maximal_queue_lifetime: expected a time", log), log
    assert "cannot start" in log
    r = o.cli("start", timeout=20)
    assert r.returncode == 1 and "did not start" in r.stderr


def test_port_in_use_is_explained(ostia_factory):
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    try:
        o = ostia_factory(master_cf="127.0.0.1:%d inet n - n - 1 smtpd\n"
                          % port)
        r = o.cli("run", timeout=20)
        assert r.returncode == 1
        log = r.stderr + o.log_text()
        assert "cannot listen on 127.0.0.1:%d: Address already in use" % port \
            in log, log
        assert "ss -ltnp" in log
    finally:
        blocker.close()


def test_debug_peer_list_raises_verbosity(ostia_factory):
    o = ostia_factory(main_cf={"debug_peer_list": "127.0.0.0/8",
                               "debug_peer_level": "2"})
    o.start_foreground()
    greeting(o.port)
    o.wait_for_log(r"ostia/smtpd\[\d+\]: > unknown\[127\.0\.0\.1\]: 220 ")

    quiet = ostia_factory(main_cf={"debug_peer_list": "192.0.2.0/24"})
    quiet.start_foreground()
    greeting(quiet.port)
    quiet.wait_for_log(r"disconnect from unknown\[127\.0\.0\.1\]")
    assert "> unknown[" not in quiet.log_text()


def test_inet_interfaces_and_protocols(ostia_factory):
    o = ostia_factory(master_cf="@port:smtp@ inet n - n - 1 smtpd\n",
                      main_cf={"inet_interfaces": "loopback-only",
                               "inet_protocols": "ipv4"})
    o.start_foreground()
    st = o.cli("status", check=True).stdout
    assert "listen=127.0.0.1:%d " % o.port in st
    assert greeting(o.port).code == 220


def ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def test_ipv6_and_ipv4_listeners(ostia_factory):
    if not ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback (::1)")
    o = ostia_factory(master_cf=(
        "[::1]:@port:v6@ inet n - n - 1 smtpd\n"
        "@port:both@ inet n - n - 1 smtpd\n"),
        main_cf={"inet_interfaces": "127.0.0.1, [::1]",
                 "inet_protocols": "all"})
    o.start_foreground()
    st = o.cli("status", check=True).stdout
    assert "listen=[::1]:%d " % o.ports["v6"] in st
    assert re.search(r"listen=127\.0\.0\.1:%d,\[::1\]:%d "
                     % (o.ports["both"], o.ports["both"]), st), st
    with socket.create_connection(("::1", o.ports["v6"]), timeout=5) as c:
        assert c.recv(512).startswith(b"220 ")
    with socket.create_connection(("::1", o.ports["both"]), timeout=5) as c:
        assert c.recv(512).startswith(b"220 ")
    assert greeting(o.ports["both"]).code == 220
    o.wait_for_log(r"connect from unknown\[::1\]")


def test_unimplemented_services_are_named(ostia_factory):
    o = ostia_factory(master_cf=(
        "127.0.0.1:@port:smtp@ inet n - n - 1 smtpd\n"
        "pickup unix n - n 60 1 pickup\n"
        "qmqpd unix - - n - - qmqpd\n"
        "127.0.0.1:@port:pipe@ inet n - n - - pipe\n"
        "  flags=DRhu user=vmail:vmail argv=/usr/lib/dovecot/deliver -d ${user}\n"
        "frob unix - - n - - frobnicate\n"))
    o.start_foreground()
    log = o.log_text()
    assert re.search(r"master\.cf:3: service qmqpd/unix: the QMQP server "
                     r"\(qmqpd\) is not implemented yet", log), log
    # Delivery agents run only as unix services.
    assert re.search(r"master\.cf:4: service 127\.0\.0\.1:\d+/inet: the pipe "
                     r"delivery agent on a non-unix service \(pipe\) is not "
                     r"implemented yet", log), log
    assert re.search(r"master\.cf:6: service frob/unix: Ostia has no program "
                     r"called \"frobnicate\"", log), log
    assert "pickup" not in log  # done by Ostia's own processes


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become "
                    "another ordinary user")
def test_runs_as_an_ordinary_user(ostia_factory, ostia_user):
    """Started by an ordinary user, the master runs the same code paths
    without switching users (development, tests)."""
    import pwd
    import shutil
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("peer setpriv (util-linux) is not installed")
    pw = pwd.getpwnam(ostia_user)
    o = ostia_factory()
    for root, dirs, files in os.walk(o.tmpdir):
        for n in dirs + files + [""]:
            os.chown(os.path.join(root, n), pw.pw_uid, pw.pw_gid)
    o.start_foreground(wrapper=[setpriv, "--reuid=%d" % pw.pw_uid,
                                "--regid=%d" % pw.pw_gid, "--clear-groups"])
    all_ready(o)
    assert uid_of(o.proc.pid) == [pw.pw_uid] * 4
    for pid in o.child_pids():
        assert uid_of(pid) == [pw.pw_uid] * 4
    assert greeting(o.port).code == 220
    st = os.stat(os.path.join(o.queue_dir, "private"))
    assert st.st_uid == pw.pw_uid and (st.st_mode & 0o777) == 0o700
    assert o.stop() == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to bind /dev/log")
def test_daemon_logs_to_syslog(ostia_factory):
    """Without maillog_file, `ostia start` logs to syslog: master and
    children, with the Postfix-style ident."""
    if os.path.exists("/dev/log"):
        pytest.skip("a system syslog daemon owns /dev/log; not replacing it")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("/dev/log")
    # Read while the daemon runs: a datagram socket queues only a few
    # messages (net.unix.max_dgram_qlen), and a full queue blocks the
    # sender.
    got = []
    done = threading.Event()

    def reader():
        while not done.is_set():
            try:
                got.append(sock.recv(8192).decode("utf-8", "replace"))
            except socket.timeout:
                pass
            except OSError:
                return

    t = threading.Thread(target=reader, daemon=True)
    try:
        sock.settimeout(0.2)
        t.start()
        o = ostia_factory(main_cf={"maillog_file": None,
                                   "syslog_name": "postfix-like"})
        o.cli("start", check=True)
        greeting(o.port)
        o.cli("stop", check=True)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and \
                not any("stopped" in g for g in list(got)):
            time.sleep(0.1)
        done.set()
        t.join(2)
        text = "\n".join(got)
        assert re.search(r"<22>.*postfix-like/master\[\d+\]: daemon started",
                         text), text
        assert re.search(r"postfix-like/smtpd\[\d+\]: connect from "
                         r"unknown\[127\.0\.0\.1\]", text), text
        assert not os.path.exists(o.log_path) or o.log_text() == ""
    finally:
        sock.close()
        os.unlink("/dev/log")
