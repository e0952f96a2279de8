"""A real PostgreSQL server on a loopback port, for the local stack and the tests."""

from __future__ import annotations

import os
import pwd
import re
import signal
import stat
import subprocess
import time
from pathlib import Path

from fundledger_devstack.errors import DevstackError
from fundledger_devstack.pg_install import PgInstall
from fundledger_devstack.ports import LOCALHOST
from fundledger_devstack.process import log_tail
from fundledger_devstack.server_base import LocalServer

APP_DATABASE = "fundledger"
SUPERUSER = "postgres"
# initdb and pg_ctl refuse to run as root; when we are root they run as this OS user.
_SERVER_OS_USER = "postgres"
_CONF_NAME = "fundledger.conf"
_INCLUDE_LINE = f"include '{_CONF_NAME}'"
_DB_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
# password_auth: the superuser through the unix socket (in the 0700 data dir) only, every
# TCP connection with a SCRAM password. Rewritten at every start.
_PASSWORD_HBA = """# Written by fundledger_devstack at every start; edits are overwritten.
local all postgres trust
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""
# sockaddr_un.sun_path is 108 bytes including the terminating NUL.
_MAX_SOCKET_PATH = 107


class PostgresServer(LocalServer):
    """One PostgreSQL cluster in `data_dir`, listening on `host:port` only.

    The data directory is kept between starts (`make run` keeps its state); the caller
    owns it: a postmaster found running on it is taken for an orphan of an earlier run
    (its runner was killed) and is stopped before this one starts.
    """

    def __init__(
        self, data_dir: Path, port: int, host: str = LOCALHOST, *, password_auth: bool = False
    ) -> None:
        self.data_dir = data_dir.absolute()
        self.port = port
        self.host = host
        # True (the local stack): every TCP connection needs a password (SCRAM); the
        # superuser has none and connects only through the unix socket in the data dir,
        # which only this OS user can reach. False (test fixtures): trust, as initdb made it.
        self.password_auth = password_auth
        # Beside the data directory, not in it: wiping the data keeps the log.
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        self.install = PgInstall.find()
        self._started = False

    # -- addresses -------------------------------------------------------------------

    def database_dsn(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    @property
    def dsn(self) -> str:
        """The application database, created by start()."""
        return self.database_dsn(APP_DATABASE)

    @property
    def admin_dsn(self) -> str:
        return self.database_dsn("postgres")

    @property
    def timescale_available(self) -> bool:
        return self.install.timescale_available

    # -- life cycle ------------------------------------------------------------------

    @property
    def running(self) -> bool:
        pid = _postmaster_pid(self.data_dir)
        return pid is not None and _is_live_postgres(pid)

    def start(self, timeout: float = 60.0) -> None:
        """Initialise the cluster if needed, start it, wait until it answers queries."""
        if self._started and self.running:
            return
        self._prepare_directories()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self._check_version()
        self._take_over_data_dir()
        self._write_config()
        result = self._pg_ctl("start", "-l", str(self.log_path), "-w", "-t", f"{timeout:.0f}")
        if result.returncode != 0:
            raise DevstackError(
                f"PostgreSQL did not start on {self.host}:{self.port} "
                f"(pg_ctl: {result.stdout.strip()} {result.stderr.strip()}); "
                f"last lines of {self.log_path}:\n{log_tail(self.log_path)}"
            )
        self._started = True
        try:
            self._wait_ready(timeout)
            self.create_database(APP_DATABASE)
        except BaseException:
            self.stop()  # a half-started server would outlive a failed start()
            raise

    def stop(self, timeout: float = 30.0) -> None:
        """`pg_ctl stop -m fast`: roll back open transactions, checkpoint, exit."""
        self._started = False
        pid = _postmaster_pid(self.data_dir)
        if pid is None:
            return
        if not _is_live_postgres(pid):
            _remove_stale_lock_files(self.data_dir)
            return
        self._grant_server_user_access()
        stopped = self._pg_ctl("stop", "-m", "fast", "-w", "-t", f"{timeout:.0f}")
        if stopped.returncode == 0:
            # pg_ctl returns once postmaster.pid is gone, a moment before the exit.
            _wait_until_gone(pid, 5.0)
            return
        # pg_ctl can fail where a signal cannot: it runs as `postgres` and must read the
        # pid file through every parent dir, which another pytest session may have made
        # private again (pytest resets /tmp/pytest-of-<user> to 0700 at every start).
        # SIGINT is the fast shutdown; SIGQUIT the immediate one (crash recovery at the
        # next start, but WAL is fsync'ed so nothing committed is lost).
        for signum, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 10.0)):
            if not _is_live_postgres(pid):
                return
            os.kill(pid, signum)
            _wait_until_gone(pid, wait)
        if _is_live_postgres(pid):
            raise DevstackError(f"PostgreSQL (pid {pid}) in {self.data_dir} did not stop")

    # -- replication (tests of a switchover) -----------------------------------------

    def base_backup_standby(
        self, data_dir: Path, port: int, timeout: float = 120.0
    ) -> PostgresServer:
        """A streaming standby of this running server: ``pg_basebackup -R`` into the empty
        ``data_dir`` (``start()`` it to follow this one). Trust mode only: initdb's trust
        rules let the superuser replicate over loopback."""
        if self.password_auth:
            raise DevstackError("a standby needs the trust mode (password_auth=False)")
        standby = PostgresServer(data_dir, port, self.host)
        standby._prepare_directories()
        if any(standby.data_dir.iterdir()):
            raise DevstackError(f"{standby.data_dir} is not empty")
        argv = [self.install.tool("pg_basebackup"), "-h", self.host, "-p", str(self.port)]
        argv += ["-U", SUPERUSER, "-D", str(standby.data_dir), "-R", "-X", "stream", "-c", "fast"]
        result = self._run(argv, timeout)
        if result.returncode != 0:
            raise DevstackError(f"pg_basebackup from {self.port} failed: {result.stderr.strip()}")
        return standby

    def promote(self, timeout: float = 60.0) -> None:
        """A standby becomes a primary (``pg_ctl promote``, waiting until it takes writes)."""
        result = self._pg_ctl("promote", "-w", "-t", f"{timeout:.0f}")
        if result.returncode != 0:
            raise DevstackError(
                f"promoting {self.data_dir} failed: {result.stdout.strip()} {result.stderr.strip()}"
            )

    # -- databases -------------------------------------------------------------------

    def create_database(self, name: str) -> str:
        """Create database `name` unless it exists; return its DSN."""
        if not _DB_NAME.fullmatch(name):
            raise ValueError(f"invalid database name {name!r}")
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
        if not exists:
            try:
                self.psql(f'CREATE DATABASE "{name}"')
            except DevstackError as exc:
                # Two callers may race to create the same database; both are satisfied.
                if "already exists" not in str(exc):
                    raise
        return self.database_dsn(name)

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run one SQL command as the superuser; return its unaligned, tuples-only output."""
        return self._psql(["-c", sql], None, database)

    def psql_script(self, sql: str, database: str = "postgres") -> str:
        """Run a script as the superuser, one transaction, fed on stdin (not in argv, where
        every local user could read it in the process list)."""
        return self._psql(["-1", "-f", "-"], sql, database)

    def _psql(self, args: list[str], stdin: str | None, database: str) -> str:
        host = str(self.data_dir) if self.password_auth else self.host
        argv = [self.install.tool("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        argv += ["-h", host, "-p", str(self.port), "-U", SUPERUSER, "-d", database]
        result = subprocess.run(
            [*argv, *args], input=stdin, capture_output=True, text=True, timeout=60, env=_pg_env()
        )
        if result.returncode != 0:
            raise DevstackError(f"psql on {self.host}:{self.port} failed: {result.stderr.strip()}")
        return result.stdout.strip()

    # -- internals -------------------------------------------------------------------

    def _as_server_user(self, argv: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", _SERVER_OS_USER, "--", *argv]
        return argv

    def _run(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        # A new session keeps the postmaster (forked by pg_ctl) out of the terminal's
        # process group: Ctrl+C goes to the runner, which stops PostgreSQL last.
        return subprocess.run(
            self._as_server_user(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_pg_env(),
            start_new_session=True,
            check=False,
        )

    def _pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self._run([self.install.tool("pg_ctl"), "-D", str(self.data_dir), *args], 120)

    def _prepare_directories(self) -> None:
        socket_path = self.data_dir / f".s.PGSQL.{self.port}"
        if len(str(socket_path)) > _MAX_SOCKET_PATH:
            raise DevstackError(f"data dir path too long for a unix socket: {socket_path}")
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.log_path.touch(exist_ok=True)
        self._grant_server_user_access()

    def _grant_server_user_access(self) -> None:
        if os.geteuid() != 0:
            return
        # The server runs as `postgres`: it must own its data dir and log file, and
        # reach them through every parent directory (pytest's /tmp/pytest-of-root is
        # 0700). Only the search bit is added to parents: nothing becomes listable.
        owner = pwd.getpwnam(_SERVER_OS_USER)
        for path in (self.data_dir, self.log_path):
            if path.stat().st_uid != owner.pw_uid:
                os.chown(path, owner.pw_uid, owner.pw_gid)
        for parent in self.data_dir.parents:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                parent.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)

    def _initdb(self) -> None:
        if any(self.data_dir.iterdir()):
            raise DevstackError(
                f"{self.data_dir} is not empty but holds no PostgreSQL cluster "
                "(an interrupted initdb?); delete it and start again"
            )
        argv = [self.install.tool("initdb"), "-D", str(self.data_dir), "--auth=trust"]
        argv += ["-U", SUPERUSER, "--encoding=UTF8", "--locale=C", "--no-instructions"]
        result = self._run(argv, 120)
        if result.returncode != 0:
            raise DevstackError(f"initdb {self.data_dir} failed:\n{result.stderr}")

    def _check_version(self) -> None:
        made_by = (self.data_dir / "PG_VERSION").read_text().strip()
        if made_by != self.install.major_version:
            raise DevstackError(
                f"{self.data_dir} was made by PostgreSQL {made_by} but this machine runs "
                f"{self.install.major_version}; delete the directory to start afresh"
            )

    def _take_over_data_dir(self) -> None:
        pid = _postmaster_pid(self.data_dir)
        if pid is None:
            return
        if _is_live_postgres(pid):
            # An orphan: the runner that started it was killed before it could stop it.
            self.stop()
        else:
            # The machine or container went down with the server: postgres would refuse
            # to start if that pid now belongs to an unrelated process.
            _remove_stale_lock_files(self.data_dir)

    def _write_config(self) -> None:
        # Rewritten at every start so a changed port (FUNDLEDGER_STACK_PG_PORT) or a
        # newly installed TimescaleDB apply to an existing data dir.
        settings = {
            "listen_addresses": _quote(self.host),
            "port": str(self.port),
            # In the data dir, not /var/run/postgresql: no root-owned dir needed, and two
            # servers on the same port number in different dirs cannot clash.
            "unix_socket_directories": _quote(str(self.data_dir)),
            # Never traded for speed, not even in tests: the tests must see the same
            # durability behaviour as production.
            "fsync": "on",
            "max_connections": "200",
        }
        if self.timescale_available:
            settings["shared_preload_libraries"] = _quote("timescaledb")
            settings["timescaledb.telemetry_level"] = "off"
        conf = self.data_dir / _CONF_NAME
        lines = ["# Written by fundledger_devstack at every start; edits are overwritten."]
        conf.write_text("\n".join([*lines, *(f"{k} = {v}" for k, v in settings.items())]) + "\n")
        main_conf = self.data_dir / "postgresql.conf"
        text = main_conf.read_text()
        if _INCLUDE_LINE not in text.splitlines():
            # Last in the file, so our values win over initdb's defaults.
            main_conf.write_text(text.rstrip("\n") + f"\n\n{_INCLUDE_LINE}\n")
        written = [conf]
        if self.password_auth:
            hba = self.data_dir / "pg_hba.conf"
            hba.write_text(_PASSWORD_HBA)
            written.append(hba)
        if os.geteuid() == 0:
            owner = pwd.getpwnam(_SERVER_OS_USER)
            for path in written:
                os.chown(path, owner.pw_uid, owner.pw_gid)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        argv = [self.install.tool("pg_isready"), "-q", "-h", self.host, "-p", str(self.port)]
        argv += ["-U", SUPERUSER, "-d", "postgres", "-t", "1"]
        while subprocess.run(argv, env=_pg_env(), check=False, timeout=10).returncode != 0:
            if time.monotonic() >= deadline:
                raise DevstackError(
                    f"PostgreSQL on {self.host}:{self.port} not ready after {timeout:.0f}s; "
                    f"last lines of {self.log_path}:\n{log_tail(self.log_path)}"
                )
            time.sleep(0.1)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _pg_env() -> dict[str, str]:
    # PGDATA, PGPORT, PGOPTIONS… from the caller's shell would silently redirect initdb,
    # pg_ctl or psql to another cluster; every tool gets explicit arguments instead.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGCONNECT_TIMEOUT"] = "5"
    return env


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        first_line = (data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
    except (FileNotFoundError, PermissionError):
        return None
    return int(first_line) if first_line.strip().isdigit() else None


def _is_live_postgres(pid: int) -> bool:
    proc = Path(f"/proc/{pid}")
    if Path("/proc/self").exists():
        try:
            # The program, not any word of the command line: a stale postmaster.pid may name
            # a process that merely mentions "postgres" (a test runner given test_postgres.py).
            program = (proc / "cmdline").read_bytes().split(b"\0", 1)[0]
            return os.path.basename(program) == b"postgres"
        except OSError:
            return False
    # No /proc (not Linux): settle for "some process has that pid".
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_until_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _is_live_postgres(pid) and time.monotonic() < deadline:
        time.sleep(0.02)


def _remove_stale_lock_files(data_dir: Path) -> None:
    (data_dir / "postmaster.pid").unlink(missing_ok=True)
    for lock in data_dir.glob(".s.PGSQL.*"):
        lock.unlink(missing_ok=True)
