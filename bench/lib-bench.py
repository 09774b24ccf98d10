# SPDX-License-Identifier: MIT
"""lib-bench.py - code shared by the benchmark scripts in bench/.

Not a program.  bench/smtp-accept and bench/tls-handshake load it by
path (its name has a dash, like the scripts) as module "lib_bench", then
import names from it; see the top of either script.  It holds:

  - clean-up at exit (at_cleanup / run_cleanups) and output helpers,
    merge_rounds (one result for a row run in several rounds);
  - /proc readers: the process tree of a server, its CPU ticks
    (including reaped children), its memory (RSS and PSS sums);
  - loopback helpers: a free port, a probe for the 220 greeting;
  - OstiaServer and PostfixServer: a private instance of each server in
    a temporary directory (never the system Postfix), configured for
    loopback only, started and stopped with every process accounted for.

Callers may add main.cf parameters (extra_main) and replace the SMTP
listener lines of master.cf (smtpd_lines); see the classes.  Each server
also tells which of its queue directories still hold mail (queue_left),
and RoleSampler splits a server's CPU time by process role (used by
bench/outbound-smtp).
"""

import copy
import os
import pty
import pwd
import re
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
HOST = "127.0.0.1"
HELO = "bench.example"
MB = 1000 * 1000
START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0
PROBLEM_RE = re.compile(r"\]: (warning|error|fatal|panic): ")

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)


# ---------------------------------------------------------------- cleanup

_cleanups = []


def at_cleanup(fn):
    """Register fn to run (once, last registered first) at exit."""
    _cleanups.append(fn)
    return fn


def run_cleanups():
    """Run every registered clean-up, newest first; errors are printed
    and do not stop the others.  Safe to call more than once."""
    # A second Ctrl-C must not interrupt the clean-up itself.
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except (ValueError, OSError):
        pass
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as e:      # keep cleaning up
            print("cleanup: %s: %s" % (getattr(fn, "__name__", fn), e),
                  file=sys.stderr)


def on_signal(signum, frame):
    """Signal handler: turn SIGTERM/SIGHUP into SystemExit so that the
    finally/atexit clean-up runs."""
    raise SystemExit(128 + signum)


# ---------------------------------------------------------------- output

def say(msg=""):
    print(msg, flush=True)


def warn(msg):
    print(msg, file=sys.stderr, flush=True)


def loud(msg):
    """Print msg between !!! bars (also on stderr when that differs)."""
    bar = "!" * 72
    text = "%s\n!!! %s\n%s" % (bar, msg, bar)
    print(text, flush=True)
    # Also on stderr when that goes somewhere else (e.g. stdout is a file).
    try:
        o, e = os.fstat(1), os.fstat(2)
        same = (o.st_dev, o.st_ino) == (e.st_dev, e.st_ino)
    except OSError:
        same = True
    if not same:
        print(text, file=sys.stderr, flush=True)


def tail_file(path, lines=20):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return "\n".join(f.read().splitlines()[-lines:])
    except OSError:
        return "(no %s)" % path


def fmt(v, spec="%.0f", none="-"):
    return none if v is None else spec % v


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def merge_rounds(runs, add=(), peak=(), concat=(), first=(), dicts=()):
    """One result for the rounds of a row (--rounds): the attributes in
    add are summed (None if any round has None), those in peak take the
    largest, concat joins lists, first keeps the first round's value
    that is not None or 0, dicts sums dict values key by key.  A rate
    computed from the sums (messages / wall) is the rate over all the
    rounds together.  Returns a copy of the first run with those set;
    runs[0] alone is returned as it is."""
    if len(runs) == 1:
        return runs[0]
    m = copy.copy(runs[0])
    for a in add:
        vals = [getattr(r, a) for r in runs]
        setattr(m, a, None if any(v is None for v in vals) else sum(vals))
    for a in peak:
        vals = [getattr(r, a) for r in runs if getattr(r, a) is not None]
        setattr(m, a, max(vals) if vals else None)
    for a in concat:
        setattr(m, a, [x for r in runs for x in (getattr(r, a) or [])])
    for a in first:
        setattr(m, a, next((getattr(r, a) for r in runs
                            if getattr(r, a) not in (None, 0)),
                           getattr(runs[0], a)))
    for a in dicts:
        if any(getattr(r, a) is None for r in runs):
            setattr(m, a, None)
            continue
        out = {}
        for r in runs:
            for k, v in getattr(r, a).items():
                out[k] = out.get(k, 0) + v
        setattr(m, a, out)
    m.round_rates = [r.rate for r in runs]
    return m


class SetupError(Exception):
    pass


# ---------------------------------------------------------------- /proc

def proc_stat(pid):
    """Return a dict from /proc/PID/stat, or None (gone or a zombie)."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rfind(b")") + 2:].split()
    # rest[0] is field 3 (state); field N is rest[N - 3].
    if rest[0] in (b"Z", b"X"):
        return None
    return {
        "ppid": int(rest[1]),
        "utime": int(rest[11]), "stime": int(rest[12]),
        "cutime": int(rest[13]), "cstime": int(rest[14]),
        "start": int(rest[19]),
    }


def ppid_map():
    """Return {pid: ppid} for every live process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d, "rb") as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rfind(b")") + 2:].split()
        if rest and rest[0] not in (b"Z", b"X"):
            out[int(d)] = int(rest[1])
    return out


def process_tree(root):
    """Return [root] plus every live descendant of root."""
    pm = ppid_map()
    if root not in pm:
        return []
    kids = {}
    for pid, ppid in pm.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, ()))
    return out


def tree_cpu_ticks(root):
    """CPU clock ticks used by root's tree, including reaped children.

    utime+stime of every live process plus its cutime+cstime (children
    it has reaped).  The difference of two calls is the CPU the tree
    used in between, also for processes that started or exited (and
    were reaped by a tree member) in between.
    """
    total = 0
    for pid in process_tree(root):
        st = proc_stat(pid)
        if st is not None:
            total += st["utime"] + st["stime"] + st["cutime"] + st["cstime"]
    return total


def machine_busy_ticks():
    """Busy clock ticks of all CPUs together (from /proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal ...
    return sum(v[:8]) - v[3] - v[4]


def children_cpu_seconds():
    """CPU seconds of this process's reaped children (RUSAGE_CHILDREN)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _status_kb(pid, field):
    try:
        with open("/proc/%d/status" % pid, "r") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _pss_kb(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid, "r") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def tree_memory(root):
    """Return (rss_bytes, pss_bytes or None, nprocs) of root's tree."""
    rss, pss, n, have_pss = 0, 0, 0, True
    for pid in process_tree(root):
        r = _status_kb(pid, "VmRSS")
        p = _pss_kb(pid)
        if p is None:
            if proc_stat(pid) is None:
                continue        # exited meanwhile
            have_pss = False
            p = 0
        rss += r * 1024
        pss += p * 1024
        n += 1
    return rss, (pss if have_pss else None), n


class MemorySampler(threading.Thread):
    """Samples tree_memory(root) every interval; keeps the peaks."""

    def __init__(self, root, interval=0.2):
        super().__init__(daemon=True)
        self.root = root
        self.interval = interval
        self.peak_rss = 0
        self.peak_pss = None
        self.peak_procs = 0
        self.samples = 0
        self._stop_ev = threading.Event()

    def sample(self):
        rss, pss, n = tree_memory(self.root)
        self.samples += 1
        self.peak_rss = max(self.peak_rss, rss)
        if pss is not None:
            self.peak_pss = max(self.peak_pss or 0, pss)
        self.peak_procs = max(self.peak_procs, n)

    def run(self):
        while not self._stop_ev.is_set():
            self.sample()
            self._stop_ev.wait(self.interval)

    def stop(self):
        self._stop_ev.set()
        self.join(5)
        self.sample()


def process_role(pid):
    """What a server process is: Postfix's program name (its comm), or
    for Ostia the master.cf service of "ostia ... child NAME ..." (the
    SMTP listener, named by its address, is "smtpd"), else "master"."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().split(b"\0")
        with open("/proc/%d/comm" % pid) as f:
            comm = f.read().strip()
    except OSError:
        return "?"
    argv = [a.decode("utf-8", "replace") for a in argv]
    if os.path.basename(argv[0]) != "ostia":
        return comm
    if "child" in argv and argv.index("child") + 1 < len(argv):
        name = argv[argv.index("child") + 1]
        return "smtpd" if ":" in name else name
    return "master"


class RoleSampler(threading.Thread):
    """Samples utime+stime of every process in root's tree every
    `interval` seconds and sums the growth per role (process_role).  A
    process that exits is counted up to its last sample; the rest of
    its time reaches the tree's total through its parent's cutime, so
    total - sum(roles) is "exited" time."""

    def __init__(self, root, interval=0.5):
        super().__init__(daemon=True)
        self.root = root
        self.interval = interval
        self.base, self.last, self.role = {}, {}, {}
        self._stop_ev = threading.Event()
        self.sample(first=True)

    def sample(self, first=False):
        for pid in process_tree(self.root):
            st = proc_stat(pid)
            if st is None:
                continue
            key = (pid, st["start"])
            cpu = st["utime"] + st["stime"]
            if key not in self.role:
                self.role[key] = process_role(pid)
                if first:
                    self.base[key] = cpu
            self.last[key] = cpu

    def run(self):
        while not self._stop_ev.wait(self.interval):
            self.sample()

    def stop(self):
        self._stop_ev.set()
        self.join(5)
        self.sample()

    def by_role(self):
        """{role: CPU seconds}."""
        out = {}
        for key, cpu in self.last.items():
            r = self.role[key]
            out[r] = out.get(r, 0) + (cpu - self.base.get(key, 0)) / CLK_TCK
        return out


def kill_pids(pids, sig=signal.SIGKILL):
    """Send sig to each (pid, starttime) still alive with that start."""
    for pid, start in pids:
        st = proc_stat(pid)
        if st is not None and st["start"] == start:
            try:
                os.kill(pid, sig)
            except OSError:
                pass


def tree_ids(root):
    """Return [(pid, starttime)] of root's tree (start time tells a pid
    apart from a later process that reuses it)."""
    out = []
    for pid in process_tree(root):
        st = proc_stat(pid)
        if st is not None:
            out.append((pid, st["start"]))
    return out


def wait_gone(ids, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [i for i in ids
                 if (proc_stat(i[0]) or {}).get("start") == i[1]]
        if not alive:
            return True
        time.sleep(0.1)
    return False


# ---------------------------------------------------------------- network

def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def probe_greeting(port, timeout=2.0):
    """Return the greeting line if a server on port greets with 220."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            buf = b""
            while b"\n" not in buf:
                data = s.recv(4096)
                if not data:
                    return None
                buf += data
            try:
                s.sendall(b"QUIT\r\n")
                s.recv(4096)
            except OSError:
                pass
            line = buf.split(b"\n", 1)[0].decode("ascii", "replace")
            return line.strip() if line.startswith("220") else None
    except OSError:
        return None


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft
    new = want if hard == resource.RLIM_INFINITY else min(want, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    except (ValueError, OSError):
        return soft
    return new


# ---------------------------------------------------------------- tools

def ensure_user(preferred=("ostia-test", "ostia-bench")):
    """Return the name of an unprivileged user for Ostia's mail_owner:
    the first of preferred that exists, else the last one, created."""
    for name in preferred:
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            pass
    name = preferred[-1]
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    r = subprocess.run([useradd, "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", name],
                       capture_output=True, text=True)
    if r.returncode not in (0, 9):
        raise SetupError("cannot create user %s: %s"
                         % (name, r.stderr.strip()))
    return name


def count_files(top):
    n = 0
    for dirpath, _, files in os.walk(top):
        n += len(files)
    return n


def log_problems(path):
    """Return the log lines that carry warning/error/fatal/panic."""
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return [l.rstrip("\n") for l in f if PROBLEM_RE.search(l)]
    except OSError:
        return []


def run_with_tty(cmd, timeout=60):
    """Run cmd with stdout/stderr on a pty (Postfix commands print their
    diagnostics only to a terminal); return (exit code, output)."""
    mfd, sfd = pty.openpty()
    try:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=sfd,
                             stderr=sfd, close_fds=True)
    finally:
        os.close(sfd)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while True:
            r, _, _ = select.select([mfd], [], [], 0.2)
            if r:
                try:
                    data = os.read(mfd, 65536)
                except OSError:
                    data = b""
                if data:
                    out += data
                    continue
            if p.poll() is not None and not r:
                break
            if p.poll() is not None and r and not data:
                break
            if time.monotonic() > deadline:
                p.kill()
                p.wait()
                out += b"\n(timed out)"
                break
    finally:
        os.close(mfd)
    return p.wait(), out.decode("utf-8", "replace").replace("\r", "")


def find_ostia(arg):
    """Return the ostia binary: arg, else build/ostia of this repository,
    else /work/main/build/ostia.  Raises SetupError when none is there."""
    cands = [arg] if arg else [os.path.join(REPO, "build", "ostia"),
                               "/work/main/build/ostia"]
    for c in cands:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return os.path.abspath(c)
    raise SetupError("no ostia binary (tried %s); build it and set OSTIA_BIN"
                     % ", ".join(c for c in cands if c))


def find_tool(name):
    return shutil.which(name) or shutil.which(
        name, path="/usr/sbin:/sbin:/usr/lib/postfix/sbin")


def postfix_version():
    r = subprocess.run(["postconf", "-d", "-h", "mail_version"],
                       capture_output=True, text=True)
    return r.stdout.strip() or "?"


def fs_type(path):
    """Return "TYPE on MOUNTPOINT (DEVICE)" for the mount holding path."""
    best = None
    path = os.path.realpath(path)
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                dev, mnt, typ = line.split()[:3]
                mnt = mnt.replace("\\040", " ")
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) \
                        and (best is None or len(mnt) >= len(best[1])):
                    best = (dev, mnt, typ)
    except (OSError, ValueError):
        pass
    if best is None:
        return "?"
    extra = ""
    if best[2] == "ext4" and best[0].startswith("/dev/"):
        dev = os.path.basename(os.path.realpath(best[0]))
        try:
            journal = any(d.startswith(dev + "-")
                          for d in os.listdir("/proc/fs/jbd2"))
        except OSError:
            journal = None
        if journal is False:
            extra = " WITHOUT A JOURNAL"
    return "%s%s on %s (%s)" % (best[2], extra, best[1], best[0])


def spread_instances(base):
    """Mark base (chattr +T) as a top of directory trees for ext4's block
    allocator: each directory made in it (an instance, a Maildir tree)
    then starts in a block group of its own, so that one server's
    deleted files do not slow the next server's file creation (ext4
    without a journal checks every recently freed inode of a group one by
    one when it creates a file there).  Returns a word for the report."""
    try:
        r = subprocess.run(["chattr", "+T", base], capture_output=True,
                           text=True)
    except OSError:
        return "not spread (no chattr)"
    if r.returncode != 0:
        return "not spread (chattr +T: %s)" % (r.stderr.strip() or "failed")
    return "each in its own block group (chattr +T)"


# ---------------------------------------------------------------- servers

class Server:
    """Common part: a directory, a port, a master pid, queue counting.

    self.port is the listener that greets in plaintext (used to tell
    that the server is up); subclasses may have more listeners.
    """

    name = "?"

    def __init__(self, base):
        self.dir = tempfile.mkdtemp(prefix=self.name.lower() + "-",
                                    dir=base)
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.master = None
        self._ids = []

    def ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not self.alive():
                break
            if probe_greeting(self.port):
                return
            time.sleep(0.1)
        raise SetupError("%s did not come up on %s:%d\n--- log tail\n%s"
                         % (self.name, HOST, self.port, self.diagnostics()))

    def alive(self):
        return self.master is not None and proc_stat(self.master) is not None

    def cpu_ticks(self):
        return tree_cpu_ticks(self.master)

    def memory(self):
        return tree_memory(self.master)

    def remember_tree(self):
        if self.master is not None:
            ids = tree_ids(self.master)
            known = set(self._ids)
            self._ids.extend(i for i in ids if i not in known)

    def diagnostics(self):
        return ""


class OstiaServer(Server):
    """A private Ostia instance, run in the foreground (ostia -c DIR run).

    extra_main: [(name, value)] appended to main.cf.
    smtpd_lines: master.cf lines that replace the default single
    "127.0.0.1:PORT inet n - n - - smtpd"; "{port}" in them is replaced
    by self.port.
    """

    name = "Ostia"

    def __init__(self, base, binary, user, extra_main=(), smtpd_lines=None,
                 writer="bench"):
        super().__init__(base)
        self.binary = binary
        self.confdir = os.path.join(self.dir, "etc")
        self.spool = os.path.join(self.dir, "spool")
        self.log = os.path.join(self.dir, "log", "ostia.log")
        self.proc = None
        for d in ("etc", "log"):
            os.makedirs(os.path.join(self.dir, d))
            os.chmod(os.path.join(self.dir, d), 0o755)
        main_cf = [
            ("queue_directory", self.spool),
            ("data_directory", os.path.join(self.dir, "data")),
            ("maillog_file", self.log),
            ("mail_owner", user),
            ("inet_interfaces", HOST),
            ("myhostname", HELO),
        ]
        main_cf.extend(extra_main)
        with open(os.path.join(self.confdir, "main.cf"), "w") as f:
            f.write("# written by %s\n" % writer)
            for k, v in main_cf:
                f.write("%s = %s\n" % (k, v))
        if smtpd_lines is None:
            # maxproc "-": one smtpd per core.
            smtpd_lines = ["%s:{port} inet n - n - - smtpd" % HOST]
        with open(os.path.join(self.confdir, "master.cf"), "w") as f:
            for line in smtpd_lines:
                f.write(line.replace("{port}", str(self.port)) + "\n")

    def start(self):
        out = open(os.path.join(self.dir, "run.out"), "w")
        try:
            self.proc = subprocess.Popen(
                [self.binary, "-c", self.confdir, "run"],
                stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            out.close()
        self.master = self.proc.pid
        at_cleanup(self.stop)
        self.ready()
        self.remember_tree()

    def queued(self):
        return count_files(os.path.join(self.spool, "incoming"))

    def queue_left(self):
        """{queue directory: files} of every directory that holds mail
        not yet delivered (all zero: the queue is empty)."""
        return {q: count_files(os.path.join(self.spool, q))
                for q in ("incoming", "deferred", "hold", "corrupt",
                          "status")}

    def problems(self):
        return log_problems(self.log)

    def diagnostics(self):
        return "%s\n--- run.out\n%s" % (
            tail_file(self.log), tail_file(os.path.join(self.dir, "run.out")))

    def stop(self):
        if self.proc is None:
            return
        self.remember_tree()
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                warn("Ostia master %d did not exit after SIGTERM; killing"
                     % self.proc.pid)
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.proc.wait(5)
        if not wait_gone(self._ids, 3):
            kill_pids(self._ids)
        self.proc = None
        self.master = None


class PostfixServer(Server):
    """A private Postfix instance (postfix -c DIR start/stop).

    main.cf: its own spool, data directory and log file, loopback only,
    nothing local, no peer name lookups, every message accepted and put
    on hold (hold=False: Postfix's default smtpd_recipient_restrictions,
    mail is delivered); extra_main: [(name, value)] appended (a later
    line wins in Postfix).  master.cf: Debian's stock services without
    chroot;
    smtpd_lines replace the default SMTP listener
    "127.0.0.1:PORT inet n - n - MAXPROC smtpd" ("{port}" is replaced by
    self.port).
    """

    name = "Postfix"

    def __init__(self, base, smtpd_maxproc="-", extra_main=(),
                 smtpd_lines=None, writer="bench", hold=True):
        super().__init__(base)
        self.confdir = os.path.join(self.dir, "etc")
        self.spool = os.path.join(self.dir, "spool")
        self.logdir = os.path.join(self.dir, "log")
        self.log = os.path.join(self.logdir, "maillog")
        self.started = False
        for d in ("etc", "log", "spool", "data"):
            os.makedirs(os.path.join(self.dir, d))
            os.chmod(os.path.join(self.dir, d), 0o755)
        pw = pwd.getpwnam("postfix")
        os.chown(os.path.join(self.dir, "data"), pw.pw_uid, pw.pw_gid)
        main_cf = [
            ("compatibility_level", "3.6"),
            ("queue_directory", self.spool),
            ("data_directory", os.path.join(self.dir, "data")),
            ("maillog_file", self.log),
            ("maillog_file_prefixes", self.logdir),
            ("mail_owner", "postfix"),
            ("setgid_group", "postdrop"),
            ("myhostname", HELO),
            ("mydomain", HELO),
            ("myorigin", "$myhostname"),
            ("inet_interfaces", HOST),
            ("inet_protocols", "ipv4"),
            ("mynetworks", "127.0.0.0/8"),
            # Nothing is local: no alias or local-recipient lookups.
            ("mydestination", ""),
            ("local_recipient_maps", ""),
            ("alias_maps", ""),
            ("alias_database", ""),
            ("biff", "no"),
            # Ostia does no DNS yet; do not make Postfix do any either.
            ("smtpd_peername_lookup", "no"),
        ]
        if hold:
            # Accept (relay for mynetworks), then hold: cleanup writes and
            # fsyncs the queue file as usual and files it under hold/,
            # where the queue manager leaves it alone.
            main_cf.append(("smtpd_recipient_restrictions",
                            "check_client_access static:HOLD"))
        main_cf.extend(extra_main)
        with open(os.path.join(self.confdir, "main.cf"), "w") as f:
            f.write("# written by %s\n" % writer)
            for k, v in main_cf:
                f.write("%s = %s\n" % (k, v))
        if smtpd_lines is None:
            smtpd_lines = ["%s:{port} inet n - n - %s smtpd"
                           % (HOST, smtpd_maxproc)]
        # Debian's stock master.cf services, without chroot.
        services = [
            ("pickup", "unix", "n", "-", "n", "60", "1", "pickup"),
            ("cleanup", "unix", "n", "-", "n", "-", "0", "cleanup"),
            ("qmgr", "unix", "n", "-", "n", "300", "1", "qmgr"),
            ("tlsmgr", "unix", "-", "-", "n", "1000?", "1", "tlsmgr"),
            ("rewrite", "unix", "-", "-", "n", "-", "-", "trivial-rewrite"),
            ("bounce", "unix", "-", "-", "n", "-", "0", "bounce"),
            ("defer", "unix", "-", "-", "n", "-", "0", "bounce"),
            ("trace", "unix", "-", "-", "n", "-", "0", "bounce"),
            ("verify", "unix", "-", "-", "n", "-", "1", "verify"),
            ("flush", "unix", "n", "-", "n", "1000?", "0", "flush"),
            ("proxymap", "unix", "-", "-", "n", "-", "-", "proxymap"),
            ("proxywrite", "unix", "-", "-", "n", "-", "1", "proxymap"),
            ("smtp", "unix", "-", "-", "n", "-", "-", "smtp"),
            ("relay", "unix", "-", "-", "n", "-", "-", "smtp"),
            ("showq", "unix", "n", "-", "n", "-", "-", "showq"),
            ("error", "unix", "-", "-", "n", "-", "-", "error"),
            ("retry", "unix", "-", "-", "n", "-", "-", "error"),
            ("discard", "unix", "-", "-", "n", "-", "-", "discard"),
            ("local", "unix", "-", "n", "n", "-", "-", "local"),
            ("virtual", "unix", "-", "n", "n", "-", "-", "virtual"),
            ("lmtp", "unix", "-", "-", "n", "-", "-", "lmtp"),
            ("anvil", "unix", "-", "-", "n", "-", "1", "anvil"),
            ("scache", "unix", "-", "-", "n", "-", "1", "scache"),
            ("postlog", "unix-dgram", "n", "-", "n", "-", "1", "postlogd"),
        ]
        with open(os.path.join(self.confdir, "master.cf"), "w") as f:
            f.write("# written by %s\n" % writer)
            for line in smtpd_lines:
                f.write(line.replace("{port}", str(self.port)) + "\n")
            for svc in services:
                f.write(" ".join(svc) + "\n")

    def postfix(self, *args, timeout=60):
        return run_with_tty(["postfix", "-c", self.confdir, *args], timeout)

    def start(self):
        rc, out = self.postfix("check")
        if rc != 0:
            raise SetupError("postfix -c %s check failed (exit %d):\n%s\n%s"
                             % (self.confdir, rc, out, tail_file(self.log)))
        at_cleanup(self.stop)
        self.started = True
        rc, out = self.postfix("start")
        if rc != 0:
            raise SetupError("postfix -c %s start failed (exit %d):\n%s\n%s"
                             % (self.confdir, rc, out, tail_file(self.log)))
        pidfile = os.path.join(self.spool, "pid", "master.pid")
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with open(pidfile) as f:
                    self.master = int(f.read().strip())
                break
            except (OSError, ValueError):
                time.sleep(0.1)
        if self.master is None:
            raise SetupError("no %s\n%s" % (pidfile, tail_file(self.log)))
        self.ready()
        self.remember_tree()

    def queued(self):
        return sum(count_files(os.path.join(self.spool, q))
                   for q in ("maildrop", "incoming", "active", "deferred",
                             "hold"))

    def queue_left(self):
        """{queue directory: files} of every directory that holds mail
        not yet delivered (all zero: the queue is empty)."""
        return {q: count_files(os.path.join(self.spool, q))
                for q in ("maildrop", "incoming", "active", "deferred",
                          "hold", "corrupt")}

    def problems(self):
        return log_problems(self.log)

    def diagnostics(self):
        return tail_file(self.log)

    def stop(self):
        if not self.started:
            return
        self.started = False
        self.remember_tree()
        rc, out = self.postfix("stop")
        if rc != 0 and self.alive():
            warn("postfix stop failed (exit %d): %s" % (rc, out.strip()))
        if not wait_gone(self._ids, STOP_TIMEOUT):
            warn("Postfix processes still running after stop; aborting")
            self.postfix("abort")
            if not wait_gone(self._ids, 3):
                kill_pids(self._ids)
        self.master = None
