"""The FundLedger services a stack runs, and how one is migrated, started and awaited."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fundledger_devstack.errors import DevstackError
from fundledger_devstack.health import NotServingError, wait_serving
from fundledger_devstack.ports import LOCALHOST
from fundledger_devstack.process import ManagedProcess, log_tail

if TYPE_CHECKING:  # security -> dev_issuer -> stack_config -> services
    from fundledger_devstack.security import StackSecurity


@dataclass(frozen=True)
class ServiceSpec:
    """A service run as `<python> -m <module>`, with its default local ports."""

    name: str
    module: str
    grpc_port: int
    metrics_port: int
    # Run `<python> -m <module> migrate` (exits 0 when done) before any service starts.
    migrate: bool = True

    @property
    def env_name(self) -> str:
        """EVENT_STORE for event-store: the infix of FUNDLEDGER_STACK_<NAME>_PORT."""
        return self.name.upper().replace("-", "_")


# The local stack, in start order. Adding a service is one line here.
SERVICES: tuple[ServiceSpec, ...] = (
    # The event store first: the others read the log through it at start-up.
    ServiceSpec("event-store", "eventstore", 50051, 9101),
    ServiceSpec("projector", "projector", 50052, 9102),
    ServiceSpec("snapshotter", "snapshotter", 50053, 9103),
    ServiceSpec("allocation", "allocation", 50054, 9104),
    ServiceSpec("storage", "storage", 50055, 9105),
)


@dataclass(frozen=True)
class Backends:
    """What one service may reach behind its API, and with which credentials. None = nothing:
    the setting is removed from the service's environment (see access.py)."""

    database_url: str | None = None
    nats_url: str | None = None
    s3_endpoint: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    # host:port of the event store, which every other service reads or appends through.
    eventstore_address: str = "127.0.0.1:50051"
    # Where its NATS replies arrive (FUNDLEDGER_NATS_INBOX_PREFIX): only its user may read it.
    nats_inbox_prefix: str | None = None
    # The schema owner's URL the migrations run with (default: database_url).
    migration_database_url: str | None = None


def service_environment(
    backends: Backends,
    grpc_port: int,
    metrics_port: int,
    host: str = LOCALHOST,
    base: Mapping[str, str] | None = None,
    workers: int | None = None,
) -> dict[str, str]:
    """The inherited environment plus the FUNDLEDGER_* settings of one service
    (``workers`` None: the service's own default, or FUNDLEDGER_WORKERS if inherited)."""
    env = dict(os.environ if base is None else base)
    # Logs land in files; without this a crash loses the last buffered lines.
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(
        {
            "FUNDLEDGER_GRPC_HOST": host,
            "FUNDLEDGER_GRPC_PORT": str(grpc_port),
            "FUNDLEDGER_METRICS_PORT": str(metrics_port),
            "FUNDLEDGER_EVENTSTORE_ADDRESS": backends.eventstore_address,
        }
    )
    if workers is not None:
        env["FUNDLEDGER_WORKERS"] = str(workers)
    granted = {
        "FUNDLEDGER_DATABASE_URL": backends.database_url,
        "FUNDLEDGER_NATS_URL": backends.nats_url,
        "FUNDLEDGER_NATS_INBOX_PREFIX": backends.nats_inbox_prefix,
        "FUNDLEDGER_S3_ENDPOINT": backends.s3_endpoint,
        "FUNDLEDGER_S3_ACCESS_KEY": backends.s3_access_key,
        "FUNDLEDGER_S3_SECRET_KEY": backends.s3_secret_key,
    }
    for var, value in granted.items():
        if value is None:
            # Not even from the caller's shell: a service holds only what it was given.
            env.pop(var, None)
        else:
            env[var] = value
    return env


class ServiceProcess:
    """One running service: its process, its log, its health."""

    def __init__(
        self,
        spec: ServiceSpec,
        grpc_port: int,
        metrics_port: int,
        backends: Backends,
        log_dir: Path,
        host: str = LOCALHOST,
        security: StackSecurity | None = None,
        workers: int | None = None,
    ) -> None:
        self.spec = spec
        self.security = security
        self.grpc_port = grpc_port
        self.metrics_port = metrics_port
        self.host = host
        self.env = service_environment(backends, grpc_port, metrics_port, host, workers=workers)
        if security is not None:
            self.env.update(security.service_env(spec.name))
        self.migrate_env = dict(self.env)
        if backends.migration_database_url is not None:
            self.migrate_env["FUNDLEDGER_DATABASE_URL"] = backends.migration_database_url
        self.log_path = log_dir / f"{spec.name}.log"
        self.migrate_log_path = log_dir / f"{spec.name}.migrate.log"
        argv = [sys.executable, "-m", spec.module]
        self._process = ManagedProcess(spec.name, argv, self.log_path, env=self.env)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def running(self) -> bool:
        return self._process.running

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def check_alive(self) -> None:
        self._process.check_alive()

    def migrate(self, timeout: float = 120.0) -> None:
        """Run `<python> -m <module> migrate` to completion; raise with its log on failure."""
        argv = [sys.executable, "-m", self.spec.module, "migrate"]
        self.migrate_log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.migrate_log_path.open("wb") as log:
            try:
                result = subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.migrate_env,
                    timeout=timeout,
                    start_new_session=True,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise DevstackError(
                    f"{self.spec.name} migrations still running after {timeout:.0f}s; "
                    f"last lines of {self.migrate_log_path}:\n{log_tail(self.migrate_log_path)}"
                ) from exc
        if result.returncode != 0:
            raise DevstackError(
                f"{self.spec.name} migrations failed (exit code {result.returncode}); "
                f"last lines of {self.migrate_log_path}:\n{log_tail(self.migrate_log_path)}"
            )

    def start(self) -> None:
        self._process.start()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until Health/Check("") says SERVING; fail with the log tail otherwise."""
        try:
            credentials = None if self.security is None else self.security.channel_credentials()
            wait_serving(
                self.address, timeout, self._process.check_alive, self.spec.name, credentials
            )
        except NotServingError as exc:
            raise DevstackError(
                f"{exc}; last lines of {self.log_path}:\n{self._process.tail()}"
            ) from exc

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (the service drains in-flight calls), SIGKILL after `timeout` seconds."""
        self._process.stop(timeout)
