# SPDX-License-Identifier: MIT
"""Real database servers for the SQL table tests, in temporary directories.

Each server is a private instance: its own data directory under a fresh
world-traversable directory from tempfile.mkdtemp(), listening on
127.0.0.1 on a port picked free, plus a UNIX-domain socket in that
directory.  The system's own servers are never touched.  Standard library
and pytest only (no Python database drivers: SQL goes through the
servers' command-line clients).

    srv = MariaDB.start()          # or MariaDB.start(parent_dir)
    srv.port, srv.socket, srv.user, srv.password, srv.dbname
    srv.execute("CREATE TABLE ...; INSERT ...")   # as the admin
    rows = srv.execute("SELECT ...")              # list of lists of str
    srv.stop(); srv.start()        # outage: same port, same data
    srv.close()                    # stop for good, kill leftovers, remove

    srv = PostgreSQL.start()       # the same interface
    db = SQLite.start()            # a file; .path; stop()/start() no-ops

Users: `user`/`password` is an unprivileged account with SELECT on
`dbname` only, authenticated by password (MariaDB: mysql_native_password
from 127.0.0.1 and localhost; PostgreSQL: scram-sha-256 in pg_hba.conf,
TCP and socket).  `execute()` runs as the administrator (MariaDB root with
a random password, PostgreSQL "postgres" with a random password).

Running as root (CI): MariaDB runs with --user=mysql, PostgreSQL as the
"postgres" system user (initdb refuses root); both users come with the
Debian packages.  As another user, both run as that user.

A missing server program, or a missing system user when running as root,
makes the calling test skip with the reason (pytest.skip).  Start and stop
are bounded (START_TIMEOUT, STOP_TIMEOUT); a server that does not come up
is killed and the test fails with the tail of its log.

Also here: iredmail_schema(dialect) (tables shaped like iRedMail's vmail
database, with rows) and iredmail_queries(dialect) / sql_cf_text() (.cf
files shaped like iRedMail's /etc/postfix/mysql/*.cf).

Dialects: "sqlite", "mysql", "pgsql" (the Postfix table type names).
"""

import atexit
import os
import pwd
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time

import pytest

from ostia_harness import find_binary, free_port, tail

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
CLIENT_TIMEOUT = 60.0

PG_BIN_DIRS = ("/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin",
               "/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/14/bin",
               "/usr/lib/postgresql/13/bin")

DIALECTS = ("sqlite", "mysql", "pgsql")


# Servers not closed yet; closed at interpreter exit in case a test run
# is interrupted before its fixtures' teardown.
_LIVE = []


@atexit.register
def _close_leftovers():
    for srv in list(_LIVE):
        try:
            srv.close()
        except Exception:  # best effort at exit
            pass


# ---------------------------------------------------------------- helpers

def _read(path):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _make_base(parent):
    """A fresh 0755 directory under parent (if others can enter it) or /tmp.

    pytest's tmp_path sits under a 0700 directory that the mysql and
    postgres users could not enter, and UNIX socket paths must stay short
    (108 bytes), so the default is a short name in /tmp.
    """
    if parent is not None:
        parent = str(parent)
        if not _world_traversable(parent) or len(parent) > 60:
            parent = None
    d = tempfile.mkdtemp(prefix="ostia-db-", dir=parent)
    os.chmod(d, 0o755)
    return d


def _world_traversable(path):
    path = os.path.abspath(path)
    while True:
        try:
            if not os.stat(path).st_mode & 0o001:
                return False
        except OSError:
            return False
        if path == "/":
            return True
        path = os.path.dirname(path)


def _service_user(name):
    """(uid, gid) to run a server as: name when root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        pytest.skip("running as root and the system user %r (from the "
                    "server's Debian package) does not exist" % name)
    return pw.pw_uid, pw.pw_gid


def _chown(path, ids):
    if ids is not None:
        os.chown(path, ids[0], ids[1])


def _port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


class _hybridmethod:
    """start() on the class makes a new server; on an instance, restarts."""

    def __init__(self, cls_func, inst_func):
        self.cls_func = cls_func
        self.inst_func = inst_func

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self.cls_func.__get__(objtype, type(objtype))
        return self.inst_func.__get__(obj, objtype)


# ---------------------------------------------------------------- base

class _Server:
    dialect = None
    name = None

    def __init__(self, parent=None):
        self.base = _make_base(parent)
        self.port = free_port()
        self.user = "vmail"
        self.password = "pw-" + secrets.token_hex(12)
        self.admin_password = "admin-" + secrets.token_hex(12)
        self.dbname = "vmail"
        self.proc = None
        self.running = False
        self.closed = False

    # -- subclass hooks
    def _setup(self):
        raise NotImplementedError

    def _launch(self):
        raise NotImplementedError

    def _ready(self):
        raise NotImplementedError

    def _shutdown(self):
        raise NotImplementedError

    def log_text(self):
        raise NotImplementedError

    def _client(self, sql, db):
        raise NotImplementedError

    # -- common
    @classmethod
    def _create(cls, parent=None):
        srv = cls(parent)
        _LIVE.append(srv)
        try:
            srv._setup()
            srv._restart()
            srv._post_start_setup()
        except BaseException:
            srv.close()
            raise
        return srv

    def _post_start_setup(self):
        pass

    def _restart(self):
        """Start the (stopped) server on the same port and data."""
        if self.closed:
            raise RuntimeError("%s: closed" % self.name)
        if self.running:
            return self
        self._launch()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._ready():
            if self.proc is not None and self.proc.poll() is not None:
                log = self.log_text()
                self.proc = None
                raise RuntimeError("%s exited with status %s while starting;"
                                   " log:\n%s" % (self.name,
                                                  self.proc_status(), tail(log)))
            if time.monotonic() >= deadline:
                self._kill()
                raise RuntimeError("%s did not start within %.0fs; log:\n%s"
                                   % (self.name, START_TIMEOUT,
                                      tail(self.log_text())))
            time.sleep(0.1)
        self.running = True
        return self

    def proc_status(self):
        return None if self.proc is None else self.proc.returncode

    start = _hybridmethod(_create.__func__, _restart)

    def stop(self):
        """Stop the server (data kept); start() brings it back."""
        if not self.running:
            return
        self.running = False
        try:
            self._shutdown()
        finally:
            self._kill()

    def _pid(self):
        return None

    def _kill(self):
        """Kill whatever is left of the server process."""
        pids = []
        if self.proc is not None:
            pids.append(self.proc.pid)
        pid = self._pid()
        if pid:
            pids.append(pid)
        deadline = time.monotonic() + STOP_TIMEOUT
        for pid in pids:
            if _pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            self.proc = None
        for pid in pids:
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)

    def close(self):
        """Stop for good and remove the directory (unless OSTIA_E2E_KEEP)."""
        if self.closed:
            return
        try:
            self.stop()
        finally:
            self._kill()
            self.closed = True
            if self in _LIVE:
                _LIVE.remove(self)
            if not os.environ.get("OSTIA_E2E_KEEP"):
                shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def execute(self, sql, db=None):
        """Run sql (one or more statements) as the administrator in db
        (default dbname); return the result rows as lists of strings."""
        if not self.running:
            raise RuntimeError("%s is stopped" % self.name)
        out = self._client(sql, self.dbname if db is None else db)
        rows = []
        for line in out.splitlines():
            if line == "":
                continue
            rows.append(line.split("\t"))
        return rows


# ---------------------------------------------------------------- MariaDB

class MariaDB(_Server):
    """A private MariaDB (or MySQL) server.  See the module docstring."""

    dialect = "mysql"
    name = "MariaDB"

    def __init__(self, parent=None):
        self.server_bin = (find_binary("mariadbd") or find_binary("mysqld"))
        self.install_bin = (find_binary("mariadb-install-db")
                            or find_binary("mysql_install_db"))
        self.client_bin = find_binary("mariadb") or find_binary("mysql")
        missing = [n for n, p in (("mariadbd/mysqld", self.server_bin),
                                  ("mariadb-install-db/mysql_install_db",
                                   self.install_bin),
                                  ("mariadb/mysql client", self.client_bin))
                   if p is None]
        if missing:
            pytest.skip("MariaDB is not installed (missing %s)"
                        % ", ".join(missing))
        self.ids = _service_user("mysql")
        super().__init__(parent)
        self.datadir = os.path.join(self.base, "data")
        self.rundir = os.path.join(self.base, "run")
        self.socket = os.path.join(self.rundir, "mysqld.sock")
        self.pidfile = os.path.join(self.rundir, "mysqld.pid")
        self.errlog = os.path.join(self.rundir, "error.log")
        self.outlog = os.path.join(self.base, "mariadbd.out")
        self.installed = False

    def _user_args(self):
        return ["--user=mysql"] if self.ids is not None else []

    def _setup(self):
        for d in (self.datadir, self.rundir):
            os.mkdir(d, 0o755)
            _chown(d, self.ids)
        cmd = [self.install_bin, "--no-defaults", "--datadir=" + self.datadir,
               "--auth-root-authentication-method=normal",
               "--skip-test-db"] + self._user_args()
        try:
            r = subprocess.run(cmd, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise RuntimeError("%s timed out" % cmd[0])
        if r.returncode != 0:
            raise RuntimeError("%s failed (%d):\n%s" % (cmd[0], r.returncode,
                                                          tail(r.stdout)))

    def _launch(self):
        cmd = [self.server_bin, "--no-defaults",
               "--datadir=" + self.datadir, "--socket=" + self.socket,
               "--port=%d" % self.port, "--bind-address=127.0.0.1",
               "--pid-file=" + self.pidfile, "--log-error=" + self.errlog,
               "--skip-name-resolve", "--skip-log-bin",
               "--innodb-buffer-pool-size=16M", "--max-connections=200",
               "--character-set-server=utf8mb4",
               "--collation-server=utf8mb4_general_ci"] + self._user_args()
        with open(self.outlog, "ab") as out:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def _ready(self):
        if not os.path.exists(self.socket) or not _port_open(self.port):
            return False
        if not self.installed:
            return True     # root has no password yet: checked in _post
        r = self._run_client("SELECT 1", None, check=False)
        return r.returncode == 0

    def _post_start_setup(self):
        # A fresh data directory: root has an empty password.  Give it one,
        # then make the database and the unprivileged test user.
        q = _sql_str_mysql
        self._client("ALTER USER 'root'@'localhost' IDENTIFIED BY %s;"
                     % q(self.admin_password), None, password="")
        self.installed = True
        stmts = ["CREATE DATABASE `%s` CHARACTER SET utf8mb4;" % self.dbname]
        for host in ("127.0.0.1", "localhost"):
            stmts.append("CREATE USER %s@%s IDENTIFIED BY %s;"
                         % (q(self.user), q(host), q(self.password)))
            stmts.append("GRANT SELECT ON `%s`.* TO %s@%s;"
                         % (self.dbname, q(self.user), q(host)))
        self._client("\n".join(stmts), None)

    def _run_client(self, sql, db, password=None, check=True):
        env = dict(os.environ)
        env["MYSQL_PWD"] = (self.admin_password if password is None
                            else password)
        cmd = [self.client_bin, "--no-defaults", "--protocol=socket",
               "--socket=" + self.socket, "--user=root", "--batch",
               "--skip-column-names", "--raw",
               "--default-character-set=utf8mb4"]
        if db:
            cmd.append("--database=" + db)
        try:
            r = subprocess.run(cmd, input=sql, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env,
                               timeout=CLIENT_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise RuntimeError("mariadb client timed out")
        if check and r.returncode != 0:
            raise RuntimeError("mariadb client failed (%d): %s"
                               % (r.returncode, r.stderr.strip()))
        return r

    def _client(self, sql, db, password=None):
        return self._run_client(sql, db, password=password).stdout

    def _pid(self):
        try:
            return int(_read(self.pidfile).strip() or 0) or None
        except ValueError:
            return None

    def _shutdown(self):
        pid = self.proc.pid if self.proc is not None else self._pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + STOP_TIMEOUT
        while _pid_alive(pid) and time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                break
            time.sleep(0.05)

    def log_text(self):
        return _read(self.outlog) + _read(self.errlog)

    def hosts_entry(self, kind="inet"):
        """A Postfix "hosts" entry reaching this server."""
        if kind == "unix":
            return "unix:" + self.socket
        return "inet:127.0.0.1:%d" % self.port


# ---------------------------------------------------------------- PostgreSQL

def _pg_bin(name):
    for d in PG_BIN_DIRS:
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return find_binary(name)


class PostgreSQL(_Server):
    """A private PostgreSQL server.  See the module docstring.

    socket: the directory holding the UNIX-domain socket (what libpq's
    host= takes); socket_file: the socket itself.
    """

    dialect = "pgsql"
    name = "PostgreSQL"

    def __init__(self, parent=None):
        self.initdb = _pg_bin("initdb")
        self.pg_ctl = _pg_bin("pg_ctl")
        self.psql = _pg_bin("psql")
        missing = [n for n, p in (("initdb", self.initdb),
                                  ("pg_ctl", self.pg_ctl), ("psql", self.psql))
                   if p is None]
        if missing:
            pytest.skip("PostgreSQL is not installed (missing %s; searched %s "
                        "and PATH)" % (", ".join(missing),
                                       ", ".join(PG_BIN_DIRS)))
        self.ids = _service_user("postgres")
        super().__init__(parent)
        self.datadir = os.path.join(self.base, "data")
        self.rundir = os.path.join(self.base, "run")
        self.socket = self.rundir
        self.socket_file = os.path.join(self.rundir, ".s.PGSQL.%d" % self.port)
        self.logfile = os.path.join(self.rundir, "postgres.log")
        self.admin = "postgres"

    def _as_service(self, cmd):
        if self.ids is None:
            return cmd
        runuser = find_binary("runuser")
        if runuser is None:
            pytest.skip("running as root and runuser is missing")
        return [runuser, "-u", "postgres", "--"] + cmd

    def _run(self, cmd, timeout):
        try:
            r = subprocess.run(self._as_service(cmd), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               timeout=timeout, cwd=self.base)
        except subprocess.TimeoutExpired:
            raise RuntimeError("%s timed out" % cmd[0])
        return r

    def _setup(self):
        for d in (self.datadir, self.rundir):
            os.mkdir(d, 0o700 if d == self.datadir else 0o755)
            _chown(d, self.ids)
        pwfile = os.path.join(self.rundir, "pwfile")
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.admin_password + "\n")
        _chown(pwfile, self.ids)
        try:
            r = self._run([self.initdb, "-D", self.datadir, "-U", self.admin,
                           "--auth=scram-sha-256", "--pwfile=" + pwfile,
                           "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
                          START_TIMEOUT)
        finally:
            os.unlink(pwfile)
        if r.returncode != 0:
            raise RuntimeError("initdb failed (%d):\n%s"
                               % (r.returncode, tail(r.stdout)))
        # Password authentication only, on the socket and on 127.0.0.1.
        hba = os.path.join(self.datadir, "pg_hba.conf")
        with open(hba, "w") as f:
            f.write("# ostia tests: passwords only\n"
                    "local all all scram-sha-256\n"
                    "host all all 127.0.0.1/32 scram-sha-256\n")
        _chown(hba, self.ids)

    def _launch(self):
        opts = ("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c max_connections=100" % (self.port, self.rundir))
        # pg_ctl start -w would wait itself; start without -w so that the
        # common bounded wait applies and the postmaster pid is known.
        r = self._run([self.pg_ctl, "-D", self.datadir, "-l", self.logfile,
                       "-o", opts, "start"], START_TIMEOUT)
        if r.returncode != 0:
            raise RuntimeError("pg_ctl start failed (%d):\n%s\n%s"
                               % (r.returncode, tail(r.stdout),
                                  tail(self.log_text())))

    def _pid(self):
        text = _read(os.path.join(self.datadir, "postmaster.pid"))
        try:
            return int(text.split("\n", 1)[0]) if text else None
        except ValueError:
            return None

    def _ready(self):
        if not os.path.exists(self.socket_file) or not _port_open(self.port):
            return False
        r = self._run_client("SELECT 1", "postgres", check=False)
        return r.returncode == 0

    def _post_start_setup(self):
        q = _sql_str_std
        self._client("CREATE ROLE %s LOGIN PASSWORD %s;"
                     % (self.user, q(self.password)), "postgres")
        self._client("CREATE DATABASE %s OWNER %s ENCODING 'UTF8' "
                     "TEMPLATE template0;" % (self.dbname, self.admin),
                     "postgres")
        self._client("REVOKE ALL ON SCHEMA public FROM PUBLIC;\n"
                     "GRANT USAGE ON SCHEMA public TO %s;\n"
                     "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
                     "GRANT SELECT ON TABLES TO %s;" % (self.user, self.user),
                     self.dbname)

    def _run_client(self, sql, db, check=True):
        env = dict(os.environ)
        env["PGPASSWORD"] = self.admin_password
        env.pop("PGSERVICE", None)
        cmd = [self.psql, "-X", "-q", "-A", "-t", "-F", "\t",
               "-v", "ON_ERROR_STOP=1", "-h", self.rundir,
               "-p", str(self.port), "-U", self.admin, "-d", db, "-f", "-"]
        try:
            r = subprocess.run(cmd, input=sql, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env,
                               timeout=CLIENT_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise RuntimeError("psql timed out")
        if check and r.returncode != 0:
            raise RuntimeError("psql failed (%d): %s"
                               % (r.returncode, r.stderr.strip()))
        return r

    def _client(self, sql, db):
        return self._run_client(sql, db).stdout

    def _shutdown(self):
        r = self._run([self.pg_ctl, "-D", self.datadir, "-m", "fast", "-w",
                       "-t", str(int(STOP_TIMEOUT)), "stop"],
                      STOP_TIMEOUT + 5)
        if r.returncode != 0 and self._pid():
            pid = self._pid()
            if pid and _pid_alive(pid):
                os.kill(pid, signal.SIGQUIT)

    def _kill(self):
        pid = self._pid()
        if pid and _pid_alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + STOP_TIMEOUT
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)

    def log_text(self):
        return _read(self.logfile)

    def hosts_entry(self, kind="inet"):
        """A Postfix "hosts" entry reaching this server."""
        if kind == "unix":
            # The socket file itself: the server is not on port 5432.
            return "unix:" + self.socket_file
        return "inet:127.0.0.1:%d" % self.port


# ---------------------------------------------------------------- SQLite

class SQLite:
    """A SQLite database file, with the servers' interface so that table
    tests can be parametrized over dialects.  stop()/start() do nothing."""

    dialect = "sqlite"
    name = "SQLite"

    def __init__(self, parent=None):
        self.base = _make_base(parent)
        self.path = os.path.join(self.base, "vmail.sqlite")
        self.dbname = self.path
        self.user = self.password = None
        self.running = True
        self.closed = False

    @classmethod
    def _create(cls, parent=None):
        db = cls(parent)
        sqlite3.connect(db.path).close()
        os.chmod(db.path, 0o644)
        return db

    def _restart(self):
        return self

    start = _hybridmethod(_create.__func__, _restart)

    def stop(self):
        pass

    def execute(self, sql, db=None):
        con = sqlite3.connect(self.path)
        try:
            cur = con.cursor()
            rows = []
            # executescript() returns no rows: run statement by statement.
            for stmt in _split_statements(sql):
                cur.execute(stmt)
                rows.extend([["NULL" if v is None else str(v) for v in r]
                             for r in cur.fetchall()])
            con.commit()
            return rows
        finally:
            con.close()

    def close(self):
        if not self.closed:
            self.closed = True
            if not os.environ.get("OSTIA_E2E_KEEP"):
                shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _split_statements(sql):
    """Split SQL text on ';' outside quotes (enough for our fixtures)."""
    out, cur, quote = [], [], None
    for ch in sql:
        cur.append(ch)
        if quote:
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
        elif ch == ";":
            stmt = "".join(cur).strip()
            if stmt.strip(";").strip():
                out.append(stmt)
            cur = []
    stmt = "".join(cur).strip()
    if stmt:
        out.append(stmt)
    return out


SERVERS = {"sqlite": SQLite, "mysql": MariaDB, "pgsql": PostgreSQL}


def start_server(dialect, parent=None):
    """Start the server for dialect ("sqlite", "mysql", "pgsql")."""
    return SERVERS[dialect].start(parent)


# ---------------------------------------------------------------- SQL text

def _sql_str_std(s):
    """A standard SQL string literal (SQLite, PostgreSQL)."""
    return "'" + s.replace("'", "''") + "'"


def _sql_str_mysql(s):
    """A MySQL string literal (backslash is an escape character there)."""
    return "'" + s.replace("\\", "\\\\").replace("'", "''") + "'"


def sql_str(dialect, s):
    """s as a string literal of dialect."""
    return _sql_str_mysql(s) if dialect == "mysql" else _sql_str_std(s)


# ---------------------------------------------------------------- iRedMail

# Rows: (table, {column: value}).  Values are str or int.
IREDMAIL_ROWS = [
    ("domain", dict(domain="example.com", transport="dovecot", backupmx=0,
                    active=1)),
    ("domain", dict(domain="example.net", transport="dovecot", backupmx=0,
                    active=1)),
    ("domain", dict(domain="inactive.test", transport="dovecot", backupmx=0,
                    active=0)),
    ("domain", dict(domain="backup.test", transport="relay:[mx.backup.test]",
                    backupmx=1, active=1)),
    ("alias_domain", dict(alias_domain="alias.example",
                          target_domain="example.com", active=1)),
    ("alias_domain", dict(alias_domain="deadalias.example",
                          target_domain="example.com", active=0)),
    ("mailbox", dict(username="alice@example.com", domain="example.com",
                     password="{SSHA512}notarealhash", name="Alice",
                     storagenode="vmail1", maildir="example.com/a/alice",
                     transport="", enablesmtp=1, enabledeliver=1, active=1)),
    ("mailbox", dict(username="bob@example.com", domain="example.com",
                     password="{SSHA512}notarealhash", name="Bob",
                     storagenode="vmail1", maildir="example.com/b/bob",
                     transport="lmtp:unix:private/special", enablesmtp=1,
                     enabledeliver=1, active=1)),
    ("mailbox", dict(username="carol@example.com", domain="example.com",
                     password="{SSHA512}notarealhash", name="Carol",
                     storagenode="vmail1", maildir="example.com/c/carol",
                     transport="", enablesmtp=1, enabledeliver=1, active=0)),
    ("mailbox", dict(username="dave@inactive.test", domain="inactive.test",
                     password="{SSHA512}notarealhash", name="Dave",
                     storagenode="vmail1", maildir="inactive.test/d/dave",
                     transport="", enablesmtp=1, enabledeliver=1, active=1)),
    # Keys with SQL-special characters that must be found as themselves.
    ("mailbox", dict(username="o'brien@example.com", domain="example.com",
                     password="{SSHA512}notarealhash", name="O'Brien",
                     storagenode="vmail1", maildir="example.com/o/obrien",
                     transport="", enablesmtp=1, enabledeliver=1, active=1)),
    ("mailbox", dict(username="back\\slash@example.com", domain="example.com",
                     password="{SSHA512}notarealhash", name="Backslash",
                     storagenode="vmail1", maildir="example.com/b/backslash",
                     transport="", enablesmtp=1, enabledeliver=1, active=1)),
    ("mailbox", dict(username="100%@example.com", domain="example.com",
                     password="{SSHA512}notarealhash", name="Percent",
                     storagenode="vmail1", maildir="example.com/p/percent",
                     transport="", enablesmtp=1, enabledeliver=1, active=1)),
    # forwardings: iRedMail keeps a row per mailbox pointing at itself.
    ("forwardings", dict(address="alice@example.com",
                         forwarding="alice@example.com", domain="example.com",
                         dest_domain="example.com", is_forwarding=1,
                         is_alias=0, is_list=0, active=1)),
    ("forwardings", dict(address="bob@example.com",
                         forwarding="bob@example.com", domain="example.com",
                         dest_domain="example.com", is_forwarding=1,
                         is_alias=0, is_list=0, active=1)),
    ("forwardings", dict(address="bob@example.com",
                         forwarding="bob@elsewhere.test", domain="example.com",
                         dest_domain="elsewhere.test", is_forwarding=1,
                         is_alias=0, is_list=0, active=1)),
    ("forwardings", dict(address="o'brien@example.com",
                         forwarding="o'brien@example.com",
                         domain="example.com", dest_domain="example.com",
                         is_forwarding=1, is_alias=0, is_list=0, active=1)),
    # A multi-member alias, a disabled alias, a catch-all.
    ("forwardings", dict(address="sales@example.com",
                         forwarding="alice@example.com", domain="example.com",
                         dest_domain="example.com", is_forwarding=0,
                         is_alias=1, is_list=0, active=1)),
    ("forwardings", dict(address="sales@example.com",
                         forwarding="bob@example.com", domain="example.com",
                         dest_domain="example.com", is_forwarding=0,
                         is_alias=1, is_list=0, active=1)),
    ("forwardings", dict(address="sales@example.com",
                         forwarding="carol@example.com", domain="example.com",
                         dest_domain="example.com", is_forwarding=0,
                         is_alias=1, is_list=0, active=1)),
    ("forwardings", dict(address="old@example.com",
                         forwarding="alice@example.com", domain="example.com",
                         dest_domain="example.com", is_forwarding=0,
                         is_alias=1, is_list=0, active=0)),
    ("forwardings", dict(address="example.net",
                         forwarding="postmaster@example.com",
                         domain="example.net", dest_domain="example.com",
                         is_forwarding=0, is_alias=0, is_list=0, active=1)),
    ("alias", dict(address="sales@example.com", name="Sales",
                   domain="example.com", active=1)),
    ("alias", dict(address="old@example.com", name="Old",
                   domain="example.com", active=0)),
    ("sender_bcc_domain", dict(domain="example.com",
                               bcc_address="archive@example.com", active=1)),
    ("sender_bcc_domain", dict(domain="example.net",
                               bcc_address="archive@example.net", active=0)),
    ("sender_bcc_user", dict(username="alice@example.com",
                             bcc_address="alice-sent@example.com",
                             domain="example.com", active=1)),
    ("sender_bcc_user", dict(username="bob@example.com",
                             bcc_address="bob-sent@example.com",
                             domain="example.com", active=0)),
    ("recipient_bcc_domain", dict(domain="example.com",
                                  bcc_address="archive-in@example.com",
                                  active=1)),
    ("recipient_bcc_user", dict(username="alice@example.com",
                                bcc_address="alice-in@example.com",
                                domain="example.com", active=1)),
    ("recipient_bcc_user", dict(username="bob@example.com",
                                bcc_address="bob-in@example.com",
                                domain="example.com", active=0)),
]

_IREDMAIL_TABLES = [
    ("domain", [("domain", "str", True), ("description", "text", False),
                ("transport", "str", False), ("backupmx", "flag", False),
                ("active", "flag", False)]),
    ("alias_domain", [("alias_domain", "str", True),
                      ("target_domain", "str", False),
                      ("active", "flag", False)]),
    ("mailbox", [("username", "str", True), ("password", "str", False),
                 ("name", "str", False), ("storagenode", "str", False),
                 ("maildir", "str", False), ("domain", "str", False),
                 ("transport", "str", False), ("enablesmtp", "flag", False),
                 ("enabledeliver", "flag", False), ("active", "flag", False)]),
    ("alias", [("address", "str", True), ("name", "str", False),
               ("domain", "str", False), ("active", "flag", False)]),
    ("forwardings", [("id", "serial", True), ("address", "str", False),
                     ("forwarding", "str", False), ("domain", "str", False),
                     ("dest_domain", "str", False),
                     ("is_maillist", "flag", False),
                     ("is_list", "flag", False),
                     ("is_forwarding", "flag", False),
                     ("is_alias", "flag", False), ("active", "flag", False)]),
    ("sender_bcc_domain", [("domain", "str", True),
                           ("bcc_address", "str", False),
                           ("active", "flag", False)]),
    ("sender_bcc_user", [("username", "str", True),
                         ("bcc_address", "str", False),
                         ("domain", "str", False), ("active", "flag", False)]),
    ("recipient_bcc_domain", [("domain", "str", True),
                              ("bcc_address", "str", False),
                              ("active", "flag", False)]),
    ("recipient_bcc_user", [("username", "str", True),
                            ("bcc_address", "str", False),
                            ("domain", "str", False),
                            ("active", "flag", False)]),
]

IREDMAIL_TABLE_NAMES = [t for t, _ in _IREDMAIL_TABLES]


def _coltype(dialect, kind):
    if kind == "str":
        return "VARCHAR(255) NOT NULL DEFAULT ''"
    if kind == "text":
        return "TEXT"
    if kind == "flag":
        return {"mysql": "TINYINT(1) NOT NULL DEFAULT 0",
                "pgsql": "INT2 NOT NULL DEFAULT 0",
                "sqlite": "INTEGER NOT NULL DEFAULT 0"}[dialect]
    if kind == "serial":
        return {"mysql": "BIGINT UNSIGNED AUTO_INCREMENT",
                "pgsql": "SERIAL",
                "sqlite": "INTEGER"}[dialect]
    raise ValueError(kind)


def iredmail_schema(dialect):
    """SQL text creating iRedMail-shaped vmail tables with rows, for
    dialect "sqlite", "mysql" or "pgsql" (run it with srv.execute())."""
    if dialect not in DIALECTS:
        raise ValueError("unknown dialect %r" % dialect)
    out = []
    for table, cols in _IREDMAIL_TABLES:
        defs = ["%s %s" % (c, _coltype(dialect, k)) for c, k, _ in cols]
        defs.append("PRIMARY KEY (%s)" % ", ".join(c for c, _, pk in cols
                                                    if pk))
        tail_ = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4" \
            if dialect == "mysql" else ""
        out.append("CREATE TABLE %s (\n  %s\n)%s;" % (table,
                                                       ",\n  ".join(defs),
                                                       tail_))
    for table, row in IREDMAIL_ROWS:
        cols = list(row)
        vals = [str(row[c]) if isinstance(row[c], int)
                else sql_str(dialect, row[c]) for c in cols]
        out.append("INSERT INTO %s (%s) VALUES (%s);"
                   % (table, ", ".join(cols), ", ".join(vals)))
    if dialect == "mysql":
        # Make sure nothing can have written: the reader has SELECT only.
        pass
    return "\n".join(out) + "\n"


def _concat(dialect, *parts):
    if dialect == "mysql":
        return "CONCAT(%s)" % ", ".join(parts)
    return "(" + " || ".join(parts) + ")"


def iredmail_queries(dialect):
    """{name: query} for the .cf files of iRedMail's Postfix setup (the
    names tests/fixtures/seed/main.cf.in uses), for dialect."""
    c = lambda *p: _concat(dialect, *p)  # noqa: E731
    return {
        "virtual_mailbox_domains":
            "SELECT domain FROM domain WHERE domain='%s' AND backupmx=0 AND "
            "active=1 UNION SELECT alias_domain.alias_domain FROM "
            "alias_domain, domain WHERE alias_domain.alias_domain='%s' AND "
            "alias_domain.active=1 AND alias_domain.target_domain="
            "domain.domain AND domain.active=1 AND domain.backupmx=0",
        "relay_domains":
            "SELECT domain FROM domain WHERE domain='%s' AND backupmx=1 AND "
            "active=1",
        "transport_maps_domain":
            "SELECT transport FROM domain WHERE domain='%s' AND active=1 "
            "AND transport<>''",
        "transport_maps_user":
            "SELECT mailbox.transport FROM mailbox, domain WHERE "
            "mailbox.username='%s' AND mailbox.domain='%d' AND "
            "mailbox.transport<>'' AND mailbox.domain=domain.domain AND "
            "mailbox.active=1 AND domain.active=1",
        "virtual_mailbox_maps":
            "SELECT " + c("mailbox.storagenode", "'/'", "mailbox.maildir",
                          "'/Maildir/'") +
            " FROM mailbox, domain WHERE mailbox.username='%s' AND "
            "mailbox.active=1 AND mailbox.enabledeliver=1 AND "
            "domain.domain=mailbox.domain AND domain.active=1",
        "virtual_alias_maps":
            "SELECT forwardings.forwarding FROM forwardings, domain WHERE "
            "forwardings.address='%s' AND forwardings.domain='%d' AND "
            "forwardings.domain=domain.domain AND forwardings.active=1 AND "
            "domain.backupmx=0 AND domain.active=1 "
            "ORDER BY forwardings.forwarding",
        "domain_alias_maps":
            "SELECT forwardings.forwarding FROM forwardings, alias_domain, "
            "domain WHERE alias_domain.alias_domain='%d' AND "
            "forwardings.address=" + c("'%u'", "'@'",
                                       "alias_domain.target_domain") +
            " AND forwardings.domain=alias_domain.target_domain AND "
            "forwardings.active=1 AND alias_domain.active=1 AND "
            "alias_domain.target_domain=domain.domain AND domain.active=1 "
            "AND domain.backupmx=0 ORDER BY forwardings.forwarding",
        "catchall_maps":
            "SELECT forwardings.forwarding FROM forwardings, domain WHERE "
            "forwardings.address='%d' AND forwardings.address="
            "domain.domain AND forwardings.active=1 AND domain.active=1 AND "
            "domain.backupmx=0",
        "domain_alias_catchall_maps":
            "SELECT forwardings.forwarding FROM forwardings, alias_domain, "
            "domain WHERE alias_domain.alias_domain='%d' AND "
            "alias_domain.target_domain=forwardings.address AND "
            "forwardings.active=1 AND alias_domain.active=1 AND "
            "alias_domain.target_domain=domain.domain AND domain.active=1 "
            "AND domain.backupmx=0",
        "sender_login_maps":
            "SELECT mailbox.username FROM mailbox, domain WHERE "
            "mailbox.username='%s' AND mailbox.domain='%d' AND "
            "mailbox.domain=domain.domain AND mailbox.enablesmtp=1 AND "
            "mailbox.active=1 AND domain.active=1 AND domain.backupmx=0 "
            "UNION SELECT forwardings.forwarding FROM forwardings, domain "
            "WHERE forwardings.address='%s' AND forwardings.domain='%d' AND "
            "forwardings.is_alias=1 AND forwardings.active=1 AND "
            "forwardings.domain=domain.domain AND domain.active=1",
        "sender_bcc_maps_user":
            "SELECT bcc_address FROM sender_bcc_user WHERE username='%s' "
            "AND active=1",
        "sender_bcc_maps_domain":
            "SELECT bcc_address FROM sender_bcc_domain WHERE domain='%d' "
            "AND active=1",
        "recipient_bcc_maps_user":
            "SELECT bcc_address FROM recipient_bcc_user WHERE username='%s' "
            "AND active=1",
        "recipient_bcc_maps_domain":
            "SELECT bcc_address FROM recipient_bcc_domain WHERE domain='%d' "
            "AND active=1",
    }


def sql_cf_text(server, query, hosts=None, extra=None):
    """The text of a Postfix SQL table file (.cf) for server (MariaDB,
    PostgreSQL or SQLite) with this query.  hosts: a list of "hosts"
    entries (default: the server's TCP address); extra: more
    {parameter: value} lines (e.g. retry_interval, result_format)."""
    lines = ["# generated by tests/e2e/db_servers.py"]
    if server.dialect == "sqlite":
        lines.append("dbpath = %s" % server.path)
    else:
        if hosts is None:
            hosts = [server.hosts_entry("inet")]
        lines.append("hosts = %s" % " ".join(hosts))
        lines.append("user = %s" % server.user)
        lines.append("password = %s" % server.password)
        lines.append("dbname = %s" % server.dbname)
    lines.append("query = %s" % query)
    for k, v in (extra or {}).items():
        lines.append("%s = %s" % (k, v))
    return "\n".join(lines) + "\n"


def write_cf(path, text):
    """Write a .cf file as Postfix wants it: not group/other writable
    (0600: it may hold a password)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path
