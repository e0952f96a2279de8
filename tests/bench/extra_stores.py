"""Event stores of a phase's own (auth, workers): beside the run's, on its database and bus,
without relays (the run's own event store publishes what they append)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

from fundledger_devstack.health import wait_serving
from fundledger_devstack.ports import LOCALHOST, free_port
from fundledger_devstack.security import StackSecurity

from tests.bench.services import ServiceError
from tests.bench.stack import Stack, eventstore_process, health_credentials


async def start_event_store(
    stack: Stack,
    started: contextlib.ExitStack,
    name: str,
    *,
    security: StackSecurity | None,
    env: Mapping[str, str],
    start_seconds: float,
    profile: bool = True,
    dsn: str | None = None,
) -> tuple[str, int]:
    """Starts one, stopped by ``started``; returns its address and port once it serves.
    ``dsn``: its database, when not the run's (phase chain)."""
    assert stack.tmp is not None
    assert stack.nats_url is not None
    port = free_port()
    profile_path = None
    if profile and stack.profile_dir is not None:
        profile_path = stack.profile_dir / f"{name}.prof"
        stack.service_profiles.append(profile_path)
    process = eventstore_process(
        stack.database_url if dsn is None else dsn,
        stack.nats_url,
        port,
        -1,
        stack.tmp,
        profile_path,
        security=security,
        name=name,
        relay=False,
        env=env,
    )
    started.callback(stack.pids.pop, name, None)
    started.callback(process.stop, 30.0)
    process.start()
    address = f"{LOCALHOST}:{port}"
    try:
        await asyncio.to_thread(
            wait_serving,
            address,
            start_seconds,
            process.check_alive,
            name,
            health_credentials(security),
        )
    except Exception as err:
        raise ServiceError(f"{name} did not start: {err}\n{process.tail()}") from None
    assert process.pid is not None
    stack.pids[name] = process.pid
    return address, port
