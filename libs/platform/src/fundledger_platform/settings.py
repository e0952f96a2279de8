"""Settings read once at start-up from ``FUNDLEDGER_*`` environment variables.

This module is the only place in FundLedger that reads ``os.environ``: every
other module receives a frozen settings object, so a test can build one by hand
and a value can never change under a running service.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    from fundledger_platform.auth.authorization import AuthorizationSettings
    from fundledger_platform.auth.settings import AuthSettings

PREFIX = "FUNDLEDGER_"

# Where the local stack (`make run`) listens: the defaults every service falls back on.
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:55432/fundledger"
DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
DEFAULT_EVENTSTORE_ADDRESS = "127.0.0.1:50051"
# The JetStream stream and subject prefix the relay publishes to and the consumers read:
# both sides must agree, so both take these defaults (FUNDLEDGER_BUS_STREAM / _SUBJECT_PREFIX).
DEFAULT_BUS_STREAM = "FUNDLEDGER_EVENTS"
DEFAULT_BUS_SUBJECT_PREFIX = "fundledger.events"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def env_name(name: str) -> str:
    """The full variable name for ``name``: ``grpc_port`` -> ``FUNDLEDGER_GRPC_PORT``."""
    upper = name.upper()
    return upper if upper.startswith(PREFIX) else PREFIX + upper


def _raw(name: str) -> tuple[str, str | None]:
    """The variable's full name and its value, or None when unset or blank.

    A blank value counts as unset because manifests and compose files often
    write ``FUNDLEDGER_X=`` to mean "use the default".
    """
    var = env_name(name)
    value = os.environ.get(var)
    if value is None or not value.strip():
        return var, None
    return var, value.strip()


def env_str(name: str, default: str) -> str:
    """``FUNDLEDGER_<NAME>`` as a string, ``default`` when unset or blank."""
    _, value = _raw(name)
    return default if value is None else value


def database_url_from_env() -> str:
    """FUNDLEDGER_DATABASE_URL (the local stack's by default), with ``primary_only`` applied."""
    return primary_only(env_str("DATABASE_URL", DEFAULT_DATABASE_URL))


def primary_only(url: str) -> str:
    """A URL naming several hosts (``postgresql://a:5432,b:5432/db``: the servers of a
    replicated cluster without a read-write service in front) connects to the one that takes
    writes, wherever the primary is after a switchover: ``target_session_attrs=read-write``
    unless the URL says otherwise. A single-host URL is returned as it is."""
    parts = urlsplit(url)
    if "," not in parts.netloc.rpartition("@")[2]:
        return url
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(key == "target_session_attrs" for key, _ in query):
        return url
    query.append(("target_session_attrs", "read-write"))
    return urlunsplit(parts._replace(query=urlencode(query)))


def env_int(
    name: str,
    default: int,
    *,
    min_value: int | None = None,
    max_value: int | None = None,
) -> int:
    """``FUNDLEDGER_<NAME>`` as an int; ValueError naming the variable if it is not one."""
    var, value = _raw(name)
    if value is None:
        return default
    try:
        result = int(value, 10)
    except ValueError:
        raise ValueError(f"{var}={value!r} is not an integer") from None
    _check_range(var, result, min_value, max_value)
    return result


def env_float(
    name: str,
    default: float,
    *,
    min_value: float | None = None,
    max_value: float | None = None,
) -> float:
    """``FUNDLEDGER_<NAME>`` as a finite float; ValueError naming the variable otherwise."""
    var, value = _raw(name)
    if value is None:
        return default
    try:
        result = float(value)
    except ValueError:
        raise ValueError(f"{var}={value!r} is not a number") from None
    if not math.isfinite(result):
        raise ValueError(f"{var}={value!r} is not a finite number")
    _check_range(var, result, min_value, max_value)
    return result


def env_bool(name: str, default: bool) -> bool:
    """``FUNDLEDGER_<NAME>`` as a bool (1/0, true/false, yes/no, on/off)."""
    var, value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{var}={value!r} is not a boolean (use true/false, 1/0, yes/no, on/off)")


def _check_range(var: str, value: float, min_value: float | None, max_value: float | None) -> None:
    if min_value is not None and value < min_value:
        raise ValueError(f"{var}={value} is below the minimum {min_value}")
    if max_value is not None and value > max_value:
        raise ValueError(f"{var}={value} is above the maximum {max_value}")


def child_environment(overrides: Mapping[str, str]) -> dict[str, str]:
    """This process's environment with ``overrides``: what a worker process is started with
    (fundledger_platform.workers), so every setting the supervisor was given reaches it."""
    env = dict(os.environ)
    env.update(overrides)
    return env


def env_path(name: str) -> Path | None:
    """``FUNDLEDGER_<NAME>`` as a path, None when unset or blank."""
    _, value = _raw(name)
    return None if value is None else Path(value)


@dataclass(frozen=True)
class TlsSettings:
    """TLS of this process's gRPC server and of its calls to other services; off by default.

    The server uses TLS when both ``cert_file`` and ``key_file`` are set, and requires
    client certificates signed by ``client_ca_file`` when ``require_client_cert`` is on
    (mutual TLS). Calls to other services use TLS when ``ca_file`` (the CA they trust)
    is set, presenting ``client_cert_file``/``client_key_file`` when set. Files are
    re-read when they change (fundledger_platform.tls). Every rule is checked here, so
    a wrong combination or a missing file stops the service at start-up.
    """

    cert_file: Path | None = None
    key_file: Path | None = None
    client_ca_file: Path | None = None
    require_client_cert: bool = False
    ca_file: Path | None = None
    client_cert_file: Path | None = None
    client_key_file: Path | None = None

    @staticmethod
    def variable(field_name: str) -> str:
        """The setting's variable: ``cert_file`` -> ``FUNDLEDGER_TLS_CERT_FILE``."""
        return env_name("TLS_" + field_name)

    @property
    def server_enabled(self) -> bool:
        return self.cert_file is not None and self.key_file is not None

    @property
    def client_enabled(self) -> bool:
        return self.ca_file is not None

    def __post_init__(self) -> None:
        var = self.variable

        def pair(first: str, second: str) -> None:
            if (getattr(self, first) is None) != (getattr(self, second) is None):
                have, missing = (first, second) if getattr(self, first) else (second, first)
                raise ValueError(f"{var(have)} is set but {var(missing)} is not: set both")

        pair("cert_file", "key_file")
        pair("client_cert_file", "client_key_file")
        if self.require_client_cert and self.client_ca_file is None:
            raise ValueError(
                f"{var('require_client_cert')} is on but {var('client_ca_file')} is not set "
                "(the CA that signs the client certificates)"
            )
        if self.client_ca_file is not None and not self.require_client_cert:
            raise ValueError(
                f"{var('client_ca_file')} is set but {var('require_client_cert')} is off: "
                "turn it on for mutual TLS, or unset the client CA"
            )
        if self.client_ca_file is not None and not self.server_enabled:
            raise ValueError(
                f"{var('client_ca_file')} needs a server certificate "
                f"({var('cert_file')} and {var('key_file')})"
            )
        if self.client_cert_file is not None and self.ca_file is None:
            raise ValueError(
                f"{var('client_cert_file')} needs {var('ca_file')} (the CA the server's "
                "certificate is checked against)"
            )
        for field in fields(self):
            path = getattr(self, field.name)
            if isinstance(path, Path) and not path.is_file():
                raise ValueError(f"{var(field.name)}={path}: no such file")

    @classmethod
    def from_env(cls) -> TlsSettings:
        return cls(
            cert_file=env_path("TLS_CERT_FILE"),
            key_file=env_path("TLS_KEY_FILE"),
            client_ca_file=env_path("TLS_CLIENT_CA_FILE"),
            require_client_cert=env_bool("TLS_REQUIRE_CLIENT_CERT", False),
            ca_file=env_path("TLS_CA_FILE"),
            client_cert_file=env_path("TLS_CLIENT_CERT_FILE"),
            client_key_file=env_path("TLS_CLIENT_KEY_FILE"),
        )


_LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")

# The event loops a service can run on (fundledger_platform.event_loop); uvloop by default.
UVLOOP = "uvloop"
ASYNCIO_LOOP = "asyncio"
EVENT_LOOPS = (UVLOOP, ASYNCIO_LOOP)


def event_loop_from_env() -> str:
    """``FUNDLEDGER_EVENT_LOOP``: uvloop (the default) or asyncio; ValueError naming it otherwise.

    Its own function so a process without ServerSettings (the bench's echo server)
    picks the same loop as the services it is compared with.
    """
    var, value = _raw("EVENT_LOOP")
    if value is None:
        return UVLOOP
    if value.lower() not in EVENT_LOOPS:
        raise ValueError(f"{var}={value!r} is not one of {', '.join(EVENT_LOOPS)}")
    return value.lower()


def usable_cores(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """The cores this process may use: its CPU affinity, capped by a cgroup v2 quota.

    ``cpu.max`` reads ``"<quota> <period>"`` (or ``"max <period>"``: no quota); a pod limited
    to 1.5 CPUs gets 2 (rounded up: the half core is still worth a worker). At least 1.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    try:
        quota, period = (cgroup_root / "cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass  # no cgroup v2 (or an unreadable one): the affinity alone
    return max(1, cores)


@dataclass(frozen=True)
class WorkerSettings:
    """How many worker processes serve one port, and which one this process is.

    ``count`` > 1: ``python -m <service>`` becomes a supervisor (fundledger_platform.workers)
    that starts ``count`` workers on one port (SO_REUSEPORT). ``index`` is set (by the
    supervisor, never by hand) only in a worker; worker 0 is the one that runs the service's
    background roles (relay, bus consumers, catch-up, schedulers). A process that is not a
    worker (index None: a single-process service, a test calling build()) runs them too.
    """

    count: int = 1
    index: int | None = None
    # The supervisor's directory: a worker writes ready/<index> (its pid) there once serving.
    run_dir: Path | None = None
    # The supervisor's pid: a worker stops when its supervisor is gone.
    supervisor_pid: int | None = None

    @property
    def supervised(self) -> bool:
        return self.index is not None

    @property
    def leader(self) -> bool:
        """Whether this process runs the background roles (worker 0, or no workers at all)."""
        return self.index is None or self.index == 0

    def share(self, pod_total: int, minimum: int = 1) -> int:
        """This process's share of a per-pod budget (a pool's connections): the budget
        divided over the workers, rounded up, at least ``minimum``; all of it outside a
        supervisor. The *_DB_POOL_* settings stay per pod, so the connections a pod may open
        (and docs/deploy.md's sum against max_connections) do not grow with the cores."""
        if self.index is None:
            return pod_total
        return max(minimum, math.ceil(pod_total / self.count))

    @classmethod
    def from_env(cls) -> WorkerSettings:
        _, run_dir = _raw("WORKER_RUN_DIR")
        return cls(
            count=env_int("WORKERS", usable_cores(), min_value=1, max_value=256),
            index=_supervisor_given("WORKER_INDEX", 0),
            run_dir=None if run_dir is None else Path(run_dir),
            supervisor_pid=_supervisor_given("SUPERVISOR_PID", 1),
        )


def _supervisor_given(name: str, min_value: int) -> int | None:
    """A number the supervisor hands its workers (FUNDLEDGER_WORKER_INDEX...), None when
    unset. Not a setting anyone configures, so read apart from the env_* helpers (the
    deploy tests require a ConfigMap entry for every variable those read)."""
    var, value = _raw(name)
    if value is None:
        return None
    if not value.isdigit() or int(value) < min_value:
        raise ValueError(f"{var}={value!r} is not an integer >= {min_value}")
    return int(value)


@dataclass(frozen=True)
class ServerSettings:
    """What every FundLedger gRPC server needs, whatever its service."""

    service_name: str
    grpc_host: str
    grpc_port: int  # 0 = let the OS pick a free port (tests)
    metrics_port: int  # 0 = free port, -1 = no metrics endpoint
    log_level: str
    otlp_endpoint: str | None  # None = traces are not exported
    shutdown_grace_seconds: float
    # TLS of the server and of this service's calls to others; off unless configured.
    tls: TlsSettings = TlsSettings()
    # With authentication on: whether server reflection is served without a token (dev) or
    # needs one like every other RPC (production). Health is always open.
    reflection: bool = True
    # Authentication of callers (fundledger_platform.auth); None = off, the default.
    auth: AuthSettings | None = None
    # Authorization: the policy file each RPC's declared permission is checked against
    # (fundledger_platform.auth.authorization); None = off, the default.
    authorization: AuthorizationSettings | None = None
    # The event loop the service runs on (fundledger_platform.event_loop).
    event_loop: str = UVLOOP
    # Worker processes per pod (FUNDLEDGER_WORKERS; default: the usable cores) and this
    # process's place among them. The default here (one, unsupervised) is what tests build.
    worker: WorkerSettings = WorkerSettings()

    @classmethod
    def from_env(
        cls, service_name: str, default_grpc_port: int, default_metrics_port: int
    ) -> ServerSettings:
        log_level = env_str("LOG_LEVEL", "INFO").upper()
        if log_level not in _LOG_LEVELS:
            raise ValueError(
                f"{env_name('LOG_LEVEL')}={log_level!r} is not one of {', '.join(_LOG_LEVELS)}"
            )
        return cls(
            service_name=service_name,
            grpc_host=env_str("GRPC_HOST", "127.0.0.1"),
            grpc_port=env_int("GRPC_PORT", default_grpc_port, min_value=0, max_value=65535),
            metrics_port=env_int(
                "METRICS_PORT", default_metrics_port, min_value=-1, max_value=65535
            ),
            log_level=log_level,
            otlp_endpoint=env_str("OTLP_ENDPOINT", "") or None,
            shutdown_grace_seconds=env_float("SHUTDOWN_GRACE_SECONDS", 10.0, min_value=0.0),
            tls=TlsSettings.from_env(),
            reflection=env_bool("REFLECTION", True),
            auth=_auth_from_env(service_name),
            authorization=_authorization_from_env(),
            event_loop=event_loop_from_env(),
            worker=WorkerSettings.from_env(),
        )


def _auth_from_env(service_name: str) -> AuthSettings | None:
    # Imported here: the auth settings read the environment with this module's helpers.
    from fundledger_platform.auth.settings import AuthSettings

    return AuthSettings.from_env(default_audience=f"fundledger-{service_name}")


def _authorization_from_env() -> AuthorizationSettings | None:
    from fundledger_platform.auth.authorization import AuthorizationSettings

    return AuthorizationSettings.from_env()
