"""The whole local stack: PostgreSQL, S3, NATS, migrations, then every service."""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from fundledger_devstack.endpoints import FILE_NAME, format_table, write_endpoints
from fundledger_devstack.errors import DevstackError
from fundledger_devstack.nats import NatsServer
from fundledger_devstack.ports import LOCALHOST
from fundledger_devstack.postgres import PostgresServer
from fundledger_devstack.s3 import S3Server
from fundledger_devstack.security import StackSecurity
from fundledger_devstack.services import ServiceProcess
from fundledger_devstack.stack_access import StackAccess
from fundledger_devstack.stack_config import StackConfig


class Stack:
    """Starts everything in dependency order and stops it in reverse.

    State lives under `config.stack_dir` (kept between runs):
    postgres/, nats/, s3/ (data), <name>.log for every server and service, and
    endpoints.json while the stack is up. One stack at a time may use a directory.
    """

    def __init__(self, config: StackConfig, out: TextIO | None = None) -> None:
        self.config = config
        self.out = out if out is not None else sys.stdout
        root, host = config.stack_dir, config.host
        # One PostgreSQL role, NATS user and S3 key set per service, only what each needs.
        self.access = StackAccess(root)
        self.postgres = PostgresServer(root / "postgres", config.pg_port, host, password_auth=True)
        self.s3 = S3Server(root / "s3", config.s3_port, host=host)
        self.nats = NatsServer(
            root / "nats",
            config.nats_port,
            config.nats_monitor_port,
            host,
            config_file=self.access.nats_config_path,
        )
        self.services: list[ServiceProcess] = []
        # TLS, tokens and policy of a secure stack (made in start()); None = plaintext.
        self.security: StackSecurity | None = None
        self._tokens_renewed_at = 0.0
        self.ready = False
        # Stop actions of what was (even partly) started, in start order. Registered
        # before each start, so a server that failed half-way is still stopped, and
        # nothing we did not start (another stack's PostgreSQL) is ever touched.
        self._stops: list[tuple[str, Callable[[], None]]] = []
        self._lock_fd: int | None = None

    @property
    def endpoints_path(self) -> Path:
        return self.config.stack_dir / FILE_NAME

    def endpoints(self) -> dict[str, str]:
        entries = {svc.spec.name: svc.address for svc in self.services}
        entries["postgres"] = self.postgres.dsn
        entries["nats"] = self.nats.url
        entries["s3"] = self.s3.endpoint
        return entries

    def start(self) -> None:
        """Bring everything up; on any failure stop what was started and raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        config = self.config
        config.stack_dir.mkdir(parents=True, exist_ok=True)
        self._lock_stack_dir()
        config.check_ports()
        self._step("credentials (NATS users, S3 keys)", self._prepare_credentials)
        # S3 before NATS only so that the reverse order stops NATS first, as documented.
        self._start_server("PostgreSQL", self.postgres.dsn, self.postgres.start, self.postgres.stop)
        self._start_server("S3", self.s3.endpoint, self.s3.start, self.s3.stop)
        self._start_server("NATS", self.nats.url, self.nats.start, self.nats.stop)
        self._step(
            "granting    a PostgreSQL role per service",
            lambda: self.access.make_database_roles(self.postgres, config.services),
        )
        if config.secure:
            self._step("securing    (CA, certificates, dev issuer, tokens)", self._secure)
        else:
            StackSecurity.deactivate(config.stack_dir)
        eventstore = _eventstore_address(config)
        self.services = [
            ServiceProcess(
                spec,
                config.grpc_port(spec),
                config.metrics_port(spec),
                self.access.backends(spec, self.postgres, self.nats, self.s3, eventstore),
                config.stack_dir,
                config.host,
                self.security,
                config.workers,
            )
            for spec in config.services
        ]
        # Every schema is in place before any service runs: a service may read another
        # one's data through its API as soon as both are up.
        for svc in self.services:
            if svc.spec.migrate:
                self._step(f"migrating   {svc.spec.module}", svc.migrate)
        # Start them all, then wait for each: they boot in parallel.
        for svc in self.services:
            self._stops.append((svc.spec.name, svc.stop))
            svc.start()
        for svc in self.services:
            self._step(f"starting    {svc.spec.name} on {svc.address}", svc.wait_ready)
        write_endpoints(self.config.stack_dir, self.endpoints())
        self.ready = True

    def _prepare_credentials(self) -> None:
        self.s3.access_key, self.s3.secret_key = self.access.s3_keys()
        self.access.write_nats_config()

    def _secure(self) -> None:
        self.security = StackSecurity.ensure(self.config.stack_dir)
        self._tokens_renewed_at = time.monotonic()

    def _start_server(
        self, name: str, address: str, start: Callable[[], None], stop: Callable[[], None]
    ) -> None:
        self._stops.append((name, stop))
        self._step(f"starting    {name} on {address}", start)

    def _step(self, label: str, action: Callable[[], None]) -> None:
        print(f"  {label} ...", end="", file=self.out, flush=True)
        began = time.monotonic()
        try:
            action()
        except BaseException:
            print(" failed", file=self.out, flush=True)
            raise
        print(f" ok ({time.monotonic() - began:.1f}s)", file=self.out, flush=True)

    def wait(self, poll: float = 0.5) -> None:
        """Block while everything runs; raise DevstackError as soon as something exits."""
        while True:
            if self.security is not None and time.monotonic() - self._tokens_renewed_at > 3600:
                # Service tokens live a day; services re-read the files when they change.
                self.security.renew_service_tokens()
                self._tokens_renewed_at = time.monotonic()
            for svc in self.services:
                svc.check_alive()
            for name, running, log in (
                ("NATS", self.nats.running, self.nats.log_path),
                ("S3 (SeaweedFS)", self.s3.running, self.s3.log_path),
                ("PostgreSQL", self.postgres.running, self.postgres.log_path),
            ):
                if not running:
                    raise DevstackError(f"{name} is no longer running; see {log}")
            time.sleep(poll)

    def stop(self) -> None:
        """Services first (SIGTERM, bounded wait, SIGKILL), then NATS, S3, PostgreSQL."""
        self.ready = False
        if self._lock_fd is None:
            return  # never owned the stack dir: nothing here is ours to stop
        self.endpoints_path.unlink(missing_ok=True)
        failures = []
        for name, stop in reversed(self._stops):
            try:
                stop()
            except Exception as exc:  # keep going: every other process must still stop
                failures.append(f"{name}: {exc}")
        self._stops.clear()
        os.close(self._lock_fd)
        self._lock_fd = None
        if failures:
            raise DevstackError("some processes did not stop cleanly:\n" + "\n".join(failures))

    def summary(self) -> str:
        """The endpoints as a table for humans."""
        rows = [["name", "endpoint", "details", "log"]]
        for svc in self.services:
            metrics = f"metrics http://{svc.host}:{svc.metrics_port}/metrics"
            rows.append([svc.spec.name, svc.address, metrics, _rel(svc.log_path)])
        # Never a password or key here: where they are kept, and who holds them.
        kept = _rel(self.access.credentials.dir)
        roles = f"a role per service; superuser by socket only; passwords in {kept}/"
        rows.append(["postgres", self.postgres.dsn, roles, _rel(self.postgres.log_path)])
        monitor = f"monitor {self.nats.monitor_url}; a user per service"
        rows.append(["nats", self.nats.url, monitor, _rel(self.nats.log_path)])
        keys = f"keys of the storage service only (user {self.s3.access_key})"
        rows.append(["s3", self.s3.endpoint, keys, _rel(self.s3.log_path)])
        return format_table(rows)

    def _lock_stack_dir(self) -> None:
        # Two runners on one directory would share (and each stop) one PostgreSQL. The
        # lock also tells PostgresServer that a postmaster found on our data dir is an
        # orphan of a killed runner, safe to stop. The kernel drops it if we die.
        path = self.config.stack_dir / "stack.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise DevstackError(
                f"another stack (pid {holder}) is running with {self.config.stack_dir}; "
                "stop it, or set FUNDLEDGER_STACK_DIR to another directory"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _eventstore_address(config: StackConfig) -> str:
    specs = [spec for spec in config.services if spec.module == "eventstore"]
    return f"{LOCALHOST}:{config.grpc_port(specs[0])}" if specs else f"{LOCALHOST}:50051"
