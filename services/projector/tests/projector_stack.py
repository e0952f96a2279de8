"""A real event store and real projectors on one fresh database and NATS.

`start_stack` starts the event store (shared tests/support fixture) with a bus
stream and subject prefix of the test's own; projectors built by
`Stack.projector()` read exactly that stream. Everything runs secure, as the local stack
does: the projectors serve TLS with authentication and the policy, call the event store with
their own service token, and `Stack.client` appends as admin "alice" of tenant "dev".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import grpc
from eventstore.bootstrap import EventStore
from fundledger.projector.v1 import projector_pb2_grpc
from fundledger_platform.auth.client import TokenSource
from fundledger_platform.eventstore_client import EventStoreClient
from projector.bootstrap import Projector, build, migrate
from projector.config import Settings

from tests.support.event_store import EventStoreFactory
from tests.support.secure import SecureEnv
from tests.support.server_settings import loopback_server_settings


def projector_settings(
    secure: SecureEnv, dsn: str, nats_url: str, store_port: int, **overrides: Any
) -> Settings:
    """Test settings: port 0, no metrics port, short intervals, secure."""
    settings = Settings(
        server=secure.server_settings(loopback_server_settings("projector")),
        database_url=dsn,
        nats_url=nats_url,
        eventstore_address=f"127.0.0.1:{store_port}",
        eventstore_timeout_seconds=10.0,
        db_pool_min=1,
        db_pool_max=8,
        bus_stream="unset",
        bus_subject_prefix="unset",
        durable="projector",
        consumer_enabled=True,
        consumer_batch_size=64,
        ack_wait_seconds=5.0,
        catchup_enabled=True,
        catchup_seconds=1.0,
        catchup_page_size=50,
        apply_concurrency=4,
        wait_poll_seconds=0.2,
        max_wait_seconds=10.0,
        status_max_scan=1000,
    )
    return replace(settings, **overrides)


@dataclass
class Stack:
    """One event store plus the projectors a test starts; stops them all afterwards."""

    secure: SecureEnv
    dsn: str
    nats_url: str
    store: EventStore
    bus: dict[str, str]
    client: EventStoreClient
    projectors: list[Projector] = field(default_factory=list)
    channels: list[grpc.aio.Channel] = field(default_factory=list)

    async def projector(self, **overrides: Any) -> Projector:
        settings = projector_settings(
            self.secure,
            self.dsn,
            self.nats_url,
            self.store.server.port,
            **{**self.bus, **overrides},
        )
        started = await build(settings, eventstore_token=self.secure.service_token("projector"))
        await started.server.start()
        self.projectors.append(started)
        return started

    def stub(
        self, projector: Projector, token: str | None = ""
    ) -> projector_pb2_grpc.ProjectorServiceStub:
        """A stub calling ``projector`` with ``token`` (default: admin "alice" of "dev")."""
        channel = self.secure.channel(f"127.0.0.1:{projector.server.port}", token)
        self.channels.append(channel)
        return projector_pb2_grpc.ProjectorServiceStub(channel)

    def operator_token(self) -> str:
        """An administrator bound to no tenant (a service identity with role admin): the
        caller whose RebuildProjection rebuilds the whole table."""
        return self.secure.operator_token()

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close(None)
        for started in reversed(self.projectors):
            await started.server.stop(1.0)
        await self.client.close()


def person_client(secure: SecureEnv, store: EventStore, token: str | None = "") -> EventStoreClient:
    """A client of the event store calling as a person (default: admin "alice" of "dev")."""
    return EventStoreClient(
        f"127.0.0.1:{store.server.port}",
        timeout_seconds=10.0,
        tls=secure.client_tls(),
        token=TokenSource.fixed(secure.token() if token == "" else token or ""),
    )


async def start_stack(
    factory: EventStoreFactory, secure: SecureEnv, dsn: str, nats_url: str, **store_overrides: Any
) -> Stack:
    tag = uuid.uuid4().hex[:10]
    bus = {"bus_stream": f"P_{tag}", "bus_subject_prefix": f"p{tag}.events"}
    await migrate(dsn)
    store = await factory(nats_url=nats_url, **bus, **store_overrides)
    return Stack(secure, dsn, nats_url, store, bus, person_client(secure, store))
