"""The composition root: builds the pool, bus consumer, event-store client, triggers and server."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from fundledger.snapshotter.v1 import snapshotter_pb2, snapshotter_pb2_grpc
from fundledger_kernel.streams import FUND_CATEGORY
from fundledger_platform.auth.client import TokenSource
from fundledger_platform.bus import bus_connected, closing_bus, connect_bus
from fundledger_platform.consumer import BusConsumer, ConsumerSettings
from fundledger_platform.db import create_pool, ping
from fundledger_platform.eventstore_client import EventStoreClient, EventStoreProbe
from fundledger_platform.migrations import run_migrations
from fundledger_platform.server import ServiceServer, build_server, cancelling
from nats.aio.client import Client as NATS

from snapshotter.adapters.clock import SystemClock
from snapshotter.adapters.event_log import GrpcEventLog
from snapshotter.adapters.progress_store import PostgresProgressStore
from snapshotter.adapters.snapshot_store import PostgresSnapshotStore
from snapshotter.config import Settings
from snapshotter.entrypoints.bus_handler import fund_batch_handler
from snapshotter.entrypoints.grpc_servicer import SnapshotterServicer
from snapshotter.service_layer.access import FundAccess
from snapshotter.service_layer.catchup import CatchUp
from snapshotter.service_layer.daily import DailySnapshots
from snapshotter.service_layer.history import History
from snapshotter.service_layer.ports import Clock
from snapshotter.service_layer.refold import Refold
from snapshotter.service_layer.snapshots import SnapshotMaker
from snapshotter.service_layer.time_travel import TimeTravel
from snapshotter.service_layer.tracker import Tracker

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
SCHEMA = "snapshotter"
SERVICE_NAME = snapshotter_pb2.DESCRIPTOR.services_by_name["SnapshotterService"].full_name


async def migrate(database_url: str, down_to: int | None = None) -> None:
    """Applies (or, with down_to, reverts) the snapshotter's migrations."""
    await run_migrations(database_url, MIGRATIONS, SCHEMA, down_to=down_to)


@dataclass
class Snapshotter:
    """A running snapshotter: the server plus the parts tests reach into."""

    server: ServiceServer
    pool: asyncpg.Pool
    bus: NATS
    consumer: BusConsumer
    tracker: Tracker
    catchup: CatchUp
    daily: DailySnapshots
    maker: SnapshotMaker
    refold: Refold
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


async def build(
    settings: Settings, *, clock: Clock | None = None, eventstore_token: TokenSource | None = None
) -> Snapshotter:
    """``eventstore_token``: the snapshotter's own identity towards the event store; by default
    FUNDLEDGER_AUTH_TOKEN_FILE (tests pass the stack's service token)."""
    worker = settings.server.worker
    pool = await create_pool(
        settings.database_url,
        # Per pod: each worker opens its share (WorkerSettings.share).
        min_size=worker.share(settings.db_pool_min),
        max_size=worker.share(settings.db_pool_max),
        application_name="snapshotter",
    )
    tls = settings.server.tls
    client = EventStoreClient(settings.eventstore_address, tls=tls, token=eventstore_token)
    probe = EventStoreProbe(settings.eventstore_address, tls=tls, token=eventstore_token)
    events = GrpcEventLog(client)
    snapshots = PostgresSnapshotStore(pool)
    progress = PostgresProgressStore(pool)
    history = History(snapshots, events)
    maker = SnapshotMaker(snapshots, history)
    tracker = Tracker(progress, maker, settings.snapshot_every_events)
    catchup = CatchUp(events, progress, tracker)
    daily = DailySnapshots(
        progress, snapshots, events, maker, settings.daily_utc_time, clock or SystemClock()
    )
    # "Now" in an answer (K and E when unset) is the wall clock, never the injected one: a test
    # drives the daily schedule with its own clock, not what "as known now" means.
    wall = SystemClock()
    refold = Refold(snapshots, maker)

    bus = await connect_bus(settings.nats_url, "snapshotter")
    consumer = BusConsumer(
        bus.jetstream(),
        ConsumerSettings(
            stream=settings.bus_stream,
            durable=settings.durable,
            filter_subject=f"{settings.bus_subject_prefix}.{FUND_CATEGORY}.>",
            # Plain acks: a lost one is a redelivery the progress check skips.
            confirm_acks=False,
        ),
        fund_batch_handler(tracker),
    )
    # The consumer, the catch-up and the daily schedule run in one worker of a pod
    # (WorkerSettings.leader); every worker serves the API.
    tasks: list[asyncio.Task[None]] = []
    if settings.server.worker.leader:
        consumer.start()
        tasks += [
            asyncio.create_task(catchup.run(settings.catchup_seconds), name="catchup"),
            asyncio.create_task(daily.run(), name="daily-snapshots"),
            asyncio.create_task(refold.run(settings.catchup_seconds), name="refold"),
        ]
    servicer = SnapshotterServicer(
        events,
        snapshots,
        maker,
        TimeTravel(events, history, wall),
        FundAccess(progress, events),
        history,
        wall,
    )

    async def ready() -> bool:
        return bus_connected(bus) and await ping(pool) and await probe.ready()

    async def close_clients() -> None:
        await client.close()
        await probe.close()

    server = build_server(
        settings.server,
        register=lambda s: snapshotter_pb2_grpc.add_SnapshotterServiceServicer_to_server(
            servicer, s
        ),
        service_names=[SERVICE_NAME],
        readiness=ready,
        # Order matters: the consumer stops first (an unacknowledged event is
        # simply redelivered to the next instance), then the background work
        # that still uses the clients and the pool; the pool closes last.
        on_shutdown=[
            consumer.stop,
            cancelling(tasks),
            closing_bus(bus, drain=False),
            close_clients,
            pool.close,
        ],
    )
    return Snapshotter(server, pool, bus, consumer, tracker, catchup, daily, maker, refold, tasks)
