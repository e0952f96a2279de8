"""Fixtures: probe servers built on port 0 and stopped after each test; a NATS server per
module (the bus tests restart theirs)."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import grpc
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fundledger_devstack.nats import NatsServer
from fundledger_devstack.ports import free_port
from fundledger_platform.health import ReadinessCheck
from fundledger_platform.server import ServiceServer, build_server
from platform_probe import PROBE_SERVICE, MakeServer, Probe, probe_settings


@pytest.fixture(scope="module")
def nats_server() -> Iterator[NatsServer]:
    """Overrides the session-wide server: a module's tests may stop and restart it.
    Our own temp dir, not tmp_path: a concurrent pytest run may prune that."""
    with tempfile.TemporaryDirectory(prefix="fl-platform-nats-") as root:
        server = NatsServer(Path(root) / "store", free_port(), free_port())
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
async def make_server() -> AsyncIterator[MakeServer]:
    """Build and start probe servers; every one is stopped at the end of the test."""
    started: list[ServiceServer] = []

    async def make(
        *,
        readiness: ReadinessCheck | None = None,
        on_shutdown: tuple[Callable[[], Awaitable[None]], ...] = (),
        metrics_port: int = -1,
        readiness_interval_seconds: float = 2.0,
    ) -> tuple[ServiceServer, Probe]:
        probe = Probe()
        server = build_server(
            probe_settings(metrics_port=metrics_port),
            register=probe.register,
            service_names=[PROBE_SERVICE],
            readiness=readiness,
            on_shutdown=on_shutdown,
            readiness_interval_seconds=readiness_interval_seconds,
        )
        await server.start()
        started.append(server)
        return server, probe

    yield make
    for server in started:
        await server.stop(0)


@pytest.fixture
async def probe_server(make_server: MakeServer) -> tuple[ServiceServer, Probe]:
    return await make_server()


@pytest.fixture
async def channel(probe_server: tuple[ServiceServer, Probe]) -> AsyncIterator[grpc.aio.Channel]:
    server, _ = probe_server
    async with grpc.aio.insecure_channel(server.address) as ch:
        yield ch
