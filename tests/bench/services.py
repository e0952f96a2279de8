"""The fund services a phase measures, each started as its own process
(`python -m projector`, `snapshotter`, `allocation`) for that phase only, so
they neither consume the other phases' events nor take CPU from them.

The projector and snapshotter read the log from their checkpoints, and the log
already holds the seeded history (millions of old events of category fund).
Like the loader does for the relay, they are migrated first and their
checkpoints moved to the log head: seeded history counts as already seen, and
they only follow what the phase appends. (The bus holds nothing older: no phase
before them appends through the event store.)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from fundledger_devstack.health import wait_serving
from fundledger_devstack.ports import LOCALHOST, free_port
from fundledger_devstack.process import ManagedProcess, log_tail

from tests.bench.stack import Stack, health_credentials

MODULES = {"projector": "projector", "snapshotter": "snapshotter", "allocation": "allocation"}
# Services that follow the log (database, bus, catch-up checkpoint).
CHECKPOINTS = {
    "projector": "projector.checkpoint",
    "snapshotter": "snapshotter.catchup_checkpoint",
}
MIGRATE_SECONDS = 120.0
READY_SECONDS = 90.0
STOP_SECONDS = 15.0


class ServiceError(Exception):
    pass


@dataclass(frozen=True)
class Instance:
    """One service process: ``module`` run as ``name``, secure or not, calling ``eventstore``.

    The phases' usual services are one instance each, configured like the run (secure by
    default). The auth phase adds a second instance in the other configuration, which serves
    reads only (``env`` turns its consumer off) and is neither migrated nor moved to the head.
    """

    name: str
    module: str
    secure: bool
    eventstore: str
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def follows(self) -> bool:
        return self.name in CHECKPOINTS


def _environment(stack: Stack, instance: Instance, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "FUNDLEDGER_EVENTSTORE_ADDRESS": instance.eventstore,
            "FUNDLEDGER_DATABASE_URL": stack.database_url,
            "FUNDLEDGER_GRPC_HOST": LOCALHOST,
            "FUNDLEDGER_GRPC_PORT": str(port),
            "FUNDLEDGER_METRICS_PORT": "-1",
            "FUNDLEDGER_LOG_LEVEL": "WARNING",
            # One process unless the instance asks (phase workers): see stack.py.
            "FUNDLEDGER_WORKERS": "1",
            **stack.bus_env,
        }
    )
    if stack.nats_url is not None:
        env["FUNDLEDGER_NATS_URL"] = stack.nats_url
    if instance.secure:
        assert stack.security is not None
        env.update(stack.security.service_env(instance.module))
    env.update(instance.env)
    return env


def _migrate(name: str, module: str, env: dict[str, str], log_dir: Path) -> None:
    path = log_dir / f"{name}.migrate.log"
    with path.open("wb") as out:
        try:
            result = subprocess.run(
                [sys.executable, "-m", module, "migrate"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                timeout=MIGRATE_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            late = f"{name} migrate still running after {MIGRATE_SECONDS:g} s"
            raise ServiceError(late) from None
    if result.returncode != 0:
        raise ServiceError(f"{name} migrate failed:\n{log_tail(path)}")


async def _skip_seeded_history(dsn: str, names: Sequence[str]) -> int:
    """Moves the services' catch-up checkpoints to the log head; returns it."""
    conn = await asyncpg.connect(dsn)
    try:
        head = int(await conn.fetchval("SELECT last_position FROM eventstore.log_head"))
        for name in names:
            await conn.execute(f"UPDATE {CHECKPOINTS[name]} SET position = $1", head)
        return head
    finally:
        await conn.close()


def usual(stack: Stack, name: str) -> Instance:
    """``name`` configured like the run's event store (secure by default)."""
    return Instance(name, MODULES[name], stack.security is not None, stack.eventstore)


@contextlib.asynccontextmanager
async def running_services(
    stack: Stack,
    names: Sequence[str],
    log: Callable[[str], None],
    extra: Sequence[Instance] = (),
) -> AsyncIterator[dict[str, str]]:
    """Starts `names` (in order), then `extra`, yields name -> host:port, stops them (reverse
    order).

    While they run, their CPU is in the probes (stack.pids)."""
    assert stack.tmp is not None
    log_dir = stack.tmp / "services"
    log_dir.mkdir(parents=True, exist_ok=True)
    instances = [usual(stack, name) for name in names] + list(extra)
    followers = [i.name for i in instances if i.follows]
    envs = {i.name: _environment(stack, i, free_port()) for i in instances}
    for instance in instances:
        if instance.follows:
            await asyncio.to_thread(
                _migrate, instance.name, instance.module, envs[instance.name], log_dir
            )
    if followers:
        head = await _skip_seeded_history(stack.database_url, followers)
        log(f"  {', '.join(followers)}: migrated, catch-up checkpoints at the log head ({head:,})")
    addresses: dict[str, str] = {}
    async with contextlib.AsyncExitStack() as started:
        for instance in instances:
            name = instance.name
            env = envs[name]
            argv = [sys.executable, "-m", instance.module]
            if stack.profile_dir is not None:  # FUNDLEDGER_BENCH_PROFILE: as the event store
                profile = stack.profile_dir / f"{name}.prof"
                profile.unlink(missing_ok=True)
                stack.service_profiles.append(profile)
                argv = [sys.executable, "-m", "cProfile", "-o", str(profile), *argv[1:]]
            # Started from the event loop's (main) thread: it then dies with us (pdeathsig).
            process = ManagedProcess(name, argv, log_dir / f"{name}.log", env=env)
            started.push_async_callback(_stop, process, stack, name)
            process.start()
            address = f"{LOCALHOST}:{env['FUNDLEDGER_GRPC_PORT']}"
            try:
                credentials = health_credentials(stack.security if instance.secure else None)
                await asyncio.to_thread(
                    wait_serving, address, READY_SECONDS, process.check_alive, name, credentials
                )
            except Exception as err:
                raise ServiceError(f"{name} did not start: {err}\n{process.tail()}") from None
            assert process.pid is not None
            stack.pids[name] = process.pid
            addresses[name] = address
        log(f"  started {', '.join(f'{n} {a}' for n, a in addresses.items())}")
        yield addresses


async def _stop(process: ManagedProcess, stack: Stack, name: str) -> None:
    stack.pids.pop(name, None)
    await asyncio.to_thread(process.stop, STOP_SECONDS)
