"""The composition root: builds the pool, bus consumer, catch-up, rebuild and gRPC server."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from fundledger.projector.v1 import projector_pb2, projector_pb2_grpc
from fundledger_platform.auth.client import TokenSource
from fundledger_platform.bus import bus_connected, closing_bus, connect_bus
from fundledger_platform.consumer import BusConsumer, ConsumerSettings
from fundledger_platform.db import create_pool, ping
from fundledger_platform.eventstore_client import EventStoreClient, EventStoreProbe
from fundledger_platform.migrations import run_migrations
from fundledger_platform.server import ServiceServer, build_server, cancelling
from nats.aio.client import Client as NATS

from projector.adapters.event_log import GrpcEventLog
from projector.adapters.fund_heads import FundHeads
from projector.adapters.fund_rows import PgProjectionRows
from projector.adapters.fund_table import LiveFundStore
from projector.adapters.rebuild_lock import PgRebuildLock
from projector.adapters.tables import SCHEMA
from projector.config import Settings
from projector.entrypoints import mappers
from projector.entrypoints.bus_handler import BusBatchHandler
from projector.entrypoints.grpc_servicer import ProjectorServicer
from projector.service_layer.applier import Applier
from projector.service_layer.catchup import CatchUp
from projector.service_layer.fold_upgrade import FoldUpgrade
from projector.service_layer.fund_state import FundStateReader
from projector.service_layer.rebuild import Rebuilder
from projector.service_layer.status import ProjectionStatus, projection_status
from projector.service_layer.waiters import VersionWaiters

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
SERVICE_NAME = projector_pb2.DESCRIPTOR.services_by_name["ProjectorService"].full_name
# Connections kept free of apply transactions, for reads (see LiveFundStore); one of
# them is held by FundHeads for GetFundState.
READ_CONNECTIONS = 3
EVENTSTORE_PROBE_SECONDS = 2.0


async def migrate(database_url: str, down_to: int | None = None) -> None:
    """Applies (or, with down_to, reverts) the projector's migrations."""
    await run_migrations(database_url, MIGRATIONS, SCHEMA, down_to=down_to)


@dataclass
class Projector:
    """A running projector: the server plus the parts tests reach into."""

    server: ServiceServer
    pool: asyncpg.Pool
    bus: NATS
    client: EventStoreClient
    applier: Applier
    rows: PgProjectionRows
    waiters: VersionWaiters
    catchup: CatchUp
    consumer: BusConsumer
    bus_handler: BusBatchHandler
    rebuilder: Rebuilder
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


async def build(settings: Settings, *, eventstore_token: TokenSource | None = None) -> Projector:
    """``eventstore_token``: the projector's own identity towards the event store; by default
    FUNDLEDGER_AUTH_TOKEN_FILE (tests pass the stack's service token)."""
    worker = settings.server.worker
    # Per pod: each worker opens its share (WorkerSettings.share), never below what the
    # reads keep aside plus one apply connection.
    pool_max = worker.share(settings.db_pool_max, minimum=READ_CONNECTIONS + 1)
    pool = await create_pool(
        settings.database_url,
        min_size=min(pool_max, worker.share(settings.db_pool_min)),
        max_size=pool_max,
        application_name="projector",
    )
    tls = settings.server.tls
    client = EventStoreClient(
        settings.eventstore_address,
        timeout_seconds=settings.eventstore_timeout_seconds,
        tls=tls,
        token=eventstore_token,
    )
    probe = EventStoreProbe(
        settings.eventstore_address, EVENTSTORE_PROBE_SECONDS, tls=tls, token=eventstore_token
    )
    source = GrpcEventLog(client)
    bus = await connect_bus(settings.nats_url, "projector")
    waiters = VersionWaiters()
    rows = PgProjectionRows(pool)
    heads = FundHeads(pool)
    store = LiveFundStore(
        pool, max(1, min(settings.apply_concurrency, pool_max - READ_CONNECTIONS))
    )
    applier = Applier(store, source, waiters)
    rebuild_lock = PgRebuildLock(settings.database_url, pool)

    async def status() -> ProjectionStatus:
        return await projection_status(rows, source, rebuild_lock, settings.status_max_scan)

    catchup = CatchUp(
        applier,
        rows,
        source,
        page_size=settings.catchup_page_size,
        interval_seconds=settings.catchup_seconds,
        after_pass=status,
    )
    bus_handler = BusBatchHandler(applier)
    consumer = BusConsumer(
        bus.jetstream(),
        ConsumerSettings(
            stream=settings.bus_stream,
            durable=settings.durable,
            filter_subject=settings.fund_subject,
            batch_size=settings.consumer_batch_size,
            ack_wait_seconds=settings.ack_wait_seconds,
            # Plain acks: a lost one is a redelivery the version check skips.
            confirm_acks=False,
        ),
        # Each fund's events of one fetch in one apply transaction.
        bus_handler.handle,
    )
    rebuilder = Rebuilder(rebuild_lock, source, waiters, page_size=settings.catchup_page_size)
    # The consumer and the catch-up run in one worker of a pod (WorkerSettings.leader): the
    # others serve reads, polling the rows for the versions callers wait for.
    leader = settings.server.worker.leader
    if settings.consumer_enabled and leader:
        consumer.start()
    tasks: list[asyncio.Task[None]] = []
    if settings.catchup_enabled and leader:
        tasks.append(asyncio.create_task(catchup.run_forever(), name="catch-up"))
        # Rows of another fold version: rebuilt in the background while serving.
        upgrade = FoldUpgrade(
            rows, rebuilder.rebuild, catchup.refold_stale, retry_seconds=settings.catchup_seconds
        )
        tasks.append(asyncio.create_task(upgrade.run_forever(), name="fold-upgrade"))
    states = FundStateReader(
        heads, waiters, source, mappers.fund_state_response, poll_seconds=settings.wait_poll_seconds
    )
    servicer = ProjectorServicer(
        states, rows, status, rebuilder, applier, max_wait_seconds=settings.max_wait_seconds
    )

    async def ready() -> bool:
        return bus_connected(bus) and await ping(pool) and await probe.ready()

    server = build_server(
        settings.server,
        register=lambda s: projector_pb2_grpc.add_ProjectorServiceServicer_to_server(servicer, s),
        service_names=[SERVICE_NAME],
        readiness=ready,
        # Order matters: the consumer stops first (a handler cut off mid-way rolls
        # back and its message is redelivered), then the catch-up and a running
        # rebuild, which still need the event store and the pool; pools close last.
        on_shutdown=[
            consumer.stop,
            cancelling(tasks),
            rebuilder.stop,
            closing_bus(bus, drain=True),
            client.close,
            probe.close,
            heads.close,
            store.close,
            pool.close,
        ],
    )
    return Projector(
        server,
        pool,
        bus,
        client,
        applier,
        rows,
        waiters,
        catchup,
        consumer,
        bus_handler,
        rebuilder,
        tasks,
    )
