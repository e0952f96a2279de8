"""The servers a benchmark run talks to, each in its own process.

Throwaway mode starts PostgreSQL and NATS (fundledger_devstack, free ports,
a temp dir) and the event store (`python -m eventstore`, which migrates on
start). Target mode uses an existing event store and its database instead.
Either way the echo baselines are started here, on this machine. The fund
services (projector, snapshotter, allocation) are started by their phases
(services.py), with what `Stack` says about the servers here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from fundledger_devstack.health import wait_serving
from fundledger_devstack.nats import NatsServer
from fundledger_devstack.ports import LOCALHOST, free_port, wait_for_port
from fundledger_devstack.postgres import PostgresServer
from fundledger_devstack.process import ManagedProcess
from fundledger_devstack.security import AUDIENCES, StackSecurity

from tests.bench.settings import REPO_ROOT, BenchSettings
from tests.bench.transport import CA_VAR, ECHO_SECURE_VAR, TOKEN_VAR

# The clients' token: one service identity with every permission, valid for the whole run.
# A service acting for itself sees every tenant, so the seeded data needs no tenant.
CLIENT_TOKEN_SECONDS = 24 * 3600


@dataclass
class Stack:
    eventstore: str  # host:port
    database_url: str
    metrics: str | None  # the event store's Prometheus host:port
    echo: str  # the echo service in the platform's server shape
    echo_bare: str  # the echo service on a plain grpc.aio server
    # Processes whose CPU time the probes read (name -> pid; postgres = the postmaster).
    pids: dict[str, int] = field(default_factory=dict)
    postmaster: int | None = None
    profile_path: Path | None = None
    # Where the fund services' profiles go (FUNDLEDGER_BENCH_PROFILE), and those written.
    profile_dir: Path | None = None
    service_profiles: list[Path] = field(default_factory=list)
    tmp: Path | None = None  # for the logs of processes the phases start
    nats_url: str | None = None  # None in target mode
    # FUNDLEDGER_BUS_STREAM / FUNDLEDGER_BUS_SUBJECT_PREFIX, as the event store has them.
    bus_env: dict[str, str] = field(default_factory=dict)
    # The run's CA, dev issuer and policy when the servers run secure (the default); None when
    # plaintext without authentication (FUNDLEDGER_BENCH_SECURE=false) or in target mode.
    security: StackSecurity | None = None


def bus_env() -> dict[str, str]:
    """The bus names the event store (and every consumer) gets: the environment's, else
    the services' defaults."""
    return {
        "FUNDLEDGER_BUS_STREAM": os.environ.get("FUNDLEDGER_BUS_STREAM", "FUNDLEDGER_EVENTS"),
        "FUNDLEDGER_BUS_SUBJECT_PREFIX": os.environ.get(
            "FUNDLEDGER_BUS_SUBJECT_PREFIX", "fundledger.events"
        ),
    }


@contextlib.contextmanager
def running_stack(settings: BenchSettings, log: Callable[[str], None]) -> Iterator[Stack]:
    tmp = Path(tempfile.mkdtemp(prefix="fundledger-bench-"))
    failed = True

    def remove_tmp() -> None:
        if failed:
            log(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    with contextlib.ExitStack() as stack:
        stack.callback(remove_tmp)  # last: after every server has stopped
        # Made first: the echo baselines serve the same transport as the services measured
        # against them (TLS + the token checked, when the run is secure).
        local_secure = settings.secure and settings.target is None
        security = _secure_clients(tmp, stack) if local_secure else None
        echo = stack.enter_context(_echo(tmp, bare=False, security=security))
        echo_bare = stack.enter_context(_echo(tmp, bare=True, security=security))
        pids = {"echo": echo[1], "echo-bare": echo_bare[1]}
        if settings.target is not None:
            assert settings.target_database_url is not None
            log(f"target mode: event store {settings.target}")
            yield Stack(
                settings.target,
                settings.target_database_url,
                settings.target_metrics,
                echo[0],
                echo_bare[0],
                pids,
                tmp=tmp,
            )
            failed = False
            return
        pg = PostgresServer(tmp / "pg", free_port())
        stack.callback(pg.stop)
        pg.start()
        nats = NatsServer(tmp / "nats", free_port(), free_port())
        stack.callback(nats.stop)
        nats.start()
        log(f"throwaway PostgreSQL :{pg.port} and NATS :{nats.port} in {tmp}")
        log(
            "servers with TLS, authentication and authorization; clients send a token"
            if security is not None
            else "servers in plaintext without authentication (FUNDLEDGER_BENCH_SECURE=false)"
        )
        grpc_port, metrics_port = free_port(), free_port()
        profile = settings.out_dir / "eventstore.prof" if settings.profile_server else None
        store = eventstore_process(
            pg.dsn, nats.url, grpc_port, metrics_port, tmp, profile, security=security
        )
        stack.callback(store.stop, 30.0)
        store.start()
        address = f"{LOCALHOST}:{grpc_port}"
        wait_serving(address, 90.0, store.check_alive, "event-store", health_credentials(security))
        assert nats.pid is not None
        assert store.pid is not None
        pids.update({"event-store": store.pid, "nats": nats.pid})
        yield Stack(
            address,
            pg.dsn,
            f"{LOCALHOST}:{metrics_port}",
            echo[0],
            echo_bare[0],
            pids,
            postmaster=_postmaster_pid(tmp / "pg"),
            profile_path=profile,
            profile_dir=settings.out_dir if settings.profile_server else None,
            tmp=tmp,
            nats_url=nats.url,
            bus_env=bus_env(),
            security=security,
        )
        failed = False


def _secure_clients(tmp: Path, stack: contextlib.ExitStack) -> StackSecurity:
    """The run's security material, and the client token and CA in the environment the client
    processes inherit (transport.py)."""
    security = StackSecurity.ensure(tmp / "security")
    token = security.issuer.mint(
        "fundledger-bench",
        list(AUDIENCES),
        roles=["admin"],
        kind="service",
        ttl_seconds=CLIENT_TOKEN_SECONDS,
    )
    token_file = tmp / "security" / "bench-client.jwt"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    for var, value in (
        (CA_VAR, str(security.ca_file)),
        (TOKEN_VAR, str(token_file)),
        (ECHO_SECURE_VAR, "true"),
    ):
        previous = os.environ.get(var)
        os.environ[var] = value
        stack.callback(_restore_env, var, previous)
    return security


def _restore_env(var: str, previous: str | None) -> None:
    if previous is None:
        os.environ.pop(var, None)
    else:
        os.environ[var] = previous


def health_credentials(security: StackSecurity | None) -> grpc.ChannelCredentials | None:
    """What a health probe needs: TLS trusting the run's CA (health takes no token)."""
    return None if security is None else security.channel_credentials(None)


def eventstore_process(
    dsn: str,
    nats_url: str,
    port: int,
    metrics_port: int,
    tmp: Path,
    profile: Path | None,
    *,
    security: StackSecurity | None,
    name: str = "event-store",
    relay: bool = True,
    env: Mapping[str, str] | None = None,
) -> ManagedProcess:
    """An event store process; ``security`` None: plaintext, no authentication. A second
    instance on the same database (the auth phase's) runs without the relay: one publishes."""
    overrides = env
    env = dict(os.environ)
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "FUNDLEDGER_DATABASE_URL": dsn,
            "FUNDLEDGER_NATS_URL": nats_url,
            "FUNDLEDGER_GRPC_HOST": LOCALHOST,
            "FUNDLEDGER_GRPC_PORT": str(port),
            "FUNDLEDGER_METRICS_PORT": str(metrics_port),
            "FUNDLEDGER_LOG_LEVEL": "WARNING",
            # One process unless the caller asks (phase workers): the other phases' figures
            # compare with earlier runs, and a profile sees the serving process.
            "FUNDLEDGER_WORKERS": "1",
            "FUNDLEDGER_EVENTSTORE_RELAY_ENABLED": "true" if relay else "false",
            **bus_env(),
            **(security.service_env("event-store") if security is not None else {}),
            **(overrides or {}),
        }
    )
    argv = [sys.executable, "-m", "eventstore"]
    if profile is not None:
        profile.parent.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "eventstore"]
    return ManagedProcess(name, argv, tmp / f"{name}.log", env=env)


@contextlib.contextmanager
def _echo(tmp: Path, *, bare: bool, security: StackSecurity | None) -> Iterator[tuple[str, int]]:
    port = free_port()
    argv = [sys.executable, "-m", "tests.bench.echo_server", str(port)]
    name = "echo-bare" if bare else "echo"
    env = None
    if security is not None:
        # TLS with the run's certificate; the platform echo also verifies the clients' token
        # (no policy: the echo declares no permission). The bare echo is TLS alone.
        env = {
            **os.environ,
            "FUNDLEDGER_TLS_CERT_FILE": str(security.server.cert),
            "FUNDLEDGER_TLS_KEY_FILE": str(security.server.key),
            "FUNDLEDGER_AUTH_ENABLED": "true",
            "FUNDLEDGER_AUTH_ISSUERS_FILE": str(security.issuer.issuers_path),
            "FUNDLEDGER_AUTH_AUDIENCE": "fundledger-event-store",
        }
    process = ManagedProcess(
        name, [*argv, "--bare"] if bare else argv, tmp / f"{name}.log", env=env, cwd=REPO_ROOT
    )
    process.start()
    try:
        wait_for_port(port, timeout=30.0, check=process.check_alive)
        assert process.pid is not None
        yield f"{LOCALHOST}:{port}", process.pid
    finally:
        process.stop(5.0)


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        first = (data_dir / "postmaster.pid").read_text().split("\n", 1)[0].strip()
    except OSError:
        return None
    return int(first) if first.isdigit() else None
