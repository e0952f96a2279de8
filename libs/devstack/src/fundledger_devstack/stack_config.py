"""Where a local stack keeps its state and which ports it uses (from FUNDLEDGER_STACK_*)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fundledger_devstack.errors import DevstackError
from fundledger_devstack.ports import LOCALHOST, free_port, port_is_free, reserve_ports
from fundledger_devstack.services import SERVICES, ServiceSpec

STACK_DIR_VAR = "FUNDLEDGER_STACK_DIR"
PG_PORT_VAR = "FUNDLEDGER_STACK_PG_PORT"
NATS_PORT_VAR = "FUNDLEDGER_STACK_NATS_PORT"
NATS_MONITOR_PORT_VAR = "FUNDLEDGER_STACK_NATS_MONITOR_PORT"
S3_PORT_VAR = "FUNDLEDGER_STACK_S3_PORT"
# FUNDLEDGER_STACK_SECURE=false runs a stack in plaintext without authentication (the
# baseline `make bench` compares against); anything else, or unset, is the secure default.
SECURE_VAR = "FUNDLEDGER_STACK_SECURE"
# Worker processes per service (FUNDLEDGER_WORKERS of each); unset = the services' default,
# one per usable core (fundledger_platform.workers).
WORKERS_VAR = "FUNDLEDGER_STACK_WORKERS"

_SERVER_DEFAULTS = {
    PG_PORT_VAR: 55432,
    NATS_PORT_VAR: 4222,
    NATS_MONITOR_PORT_VAR: 8222,
    S3_PORT_VAR: 8333,
}


def grpc_port_var(spec: ServiceSpec) -> str:
    return f"FUNDLEDGER_STACK_{spec.env_name}_PORT"


def metrics_port_var(spec: ServiceSpec) -> str:
    return f"FUNDLEDGER_STACK_{spec.env_name}_METRICS_PORT"


def default_stack_dir(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get(STACK_DIR_VAR) or ".stack").absolute()


def secure_from_env(environ: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get(SECURE_VAR, "").strip().lower()
    return value not in ("0", "false", "no", "off")


def workers_from_env(environ: Mapping[str, str] | None = None) -> int | None:
    raw = (os.environ if environ is None else environ).get(WORKERS_VAR, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise DevstackError(f"{WORKERS_VAR}={raw!r} is not a positive number of workers")
    return int(raw)


def _read_port(environ: Mapping[str, str], var: str, default: int) -> int:
    raw = environ.get(var, "").strip()
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise DevstackError(f"{var}={raw!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise DevstackError(f"{var}={port} is out of range (0-65535; 0 = any free port)")
    return port


@dataclass(frozen=True)
class StackConfig:
    """A resolved configuration: every port is a real number (0 already replaced)."""

    stack_dir: Path
    # Keyed by the environment variable that sets the port, so error messages can
    # name the knob to turn.
    ports: Mapping[str, int]
    services: tuple[ServiceSpec, ...] = SERVICES
    host: str = LOCALHOST
    # TLS, authentication and authorization on (FUNDLEDGER_STACK_SECURE, default on).
    secure: bool = True
    # Worker processes per service; None = each service's default (its usable cores).
    workers: int | None = None

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        services: tuple[ServiceSpec, ...] = SERVICES,
    ) -> StackConfig:
        environ = os.environ if environ is None else environ
        wanted = {var: _read_port(environ, var, d) for var, d in _SERVER_DEFAULTS.items()}
        for spec in services:
            wanted[grpc_port_var(spec)] = _read_port(environ, grpc_port_var(spec), spec.grpc_port)
            wanted[metrics_port_var(spec)] = _read_port(
                environ, metrics_port_var(spec), spec.metrics_port
            )
        # Fixed ports first, so a "pick any" port can never be one of them.
        reserve_ports(wanted.values())
        ports = {var: port or free_port() for var, port in wanted.items()}
        return cls(
            default_stack_dir(environ),
            ports,
            services,
            secure=secure_from_env(environ),
            workers=workers_from_env(environ),
        )

    @classmethod
    def on_free_ports(
        cls,
        stack_dir: Path,
        services: tuple[ServiceSpec, ...] = SERVICES,
        *,
        secure: bool = True,
        workers: int | None = 1,
    ) -> StackConfig:
        """Every server and service on a port picked free (tests, load runs beside `make run`).

        One worker per service by default: test stacks start many times and ten processes
        would start slower than five (the multi-worker path has its own tests)."""
        environ = {STACK_DIR_VAR: str(stack_dir), SECURE_VAR: str(secure).lower()}
        if workers is not None:
            environ[WORKERS_VAR] = str(workers)
        environ.update((var, "0") for var in _SERVER_DEFAULTS)
        for spec in services:
            environ[grpc_port_var(spec)] = "0"
            environ[metrics_port_var(spec)] = "0"
        return cls.from_env(environ, services)

    @property
    def pg_port(self) -> int:
        return self.ports[PG_PORT_VAR]

    @property
    def nats_port(self) -> int:
        return self.ports[NATS_PORT_VAR]

    @property
    def nats_monitor_port(self) -> int:
        return self.ports[NATS_MONITOR_PORT_VAR]

    @property
    def s3_port(self) -> int:
        return self.ports[S3_PORT_VAR]

    def grpc_port(self, spec: ServiceSpec) -> int:
        return self.ports[grpc_port_var(spec)]

    def metrics_port(self, spec: ServiceSpec) -> int:
        return self.ports[metrics_port_var(spec)]

    def check_ports(self) -> None:
        """Refuse (one message listing every problem) if a port is taken or used twice."""
        problems = []
        counts = Counter(self.ports.values())
        for var, port in self.ports.items():
            if counts[port] > 1:
                same = ", ".join(v for v, p in self.ports.items() if p == port)
                problems.append(f"port {port} is configured more than once ({same})")
            elif not port_is_free(port, self.host):
                problems.append(f"port {port} ({var}) is already in use on {self.host}")
        if problems:
            raise DevstackError(
                "cannot start the stack:\n  "
                + "\n  ".join(dict.fromkeys(problems))
                + "\nStop what holds them (another `make run`?) or set those variables to "
                "other ports (0 = any free port)."
            )
