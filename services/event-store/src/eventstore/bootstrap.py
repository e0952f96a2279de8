"""The composition root: builds pools, bus, appender, relay and the gRPC server."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import asyncpg
from fundledger.eventstore.v1 import eventstore_pb2, eventstore_pb2_grpc
from fundledger_platform.bus import bus_connected, closing_bus, connect_bus, ensure_stream
from fundledger_platform.db import create_pool, ping
from fundledger_platform.migrations import load_migrations, migrate_down, migrate_up
from fundledger_platform.server import ServiceServer, build_server, cancelling
from nats.aio.client import Client as NATS

from eventstore.adapters.anchors import Anchors, run_anchors
from eventstore.adapters.chain_backfill import Backfill
from eventstore.adapters.chain_reader import ChainReader
from eventstore.adapters.effective_index import ensure_effective_index
from eventstore.adapters.group_write import PostgresGroupWriter
from eventstore.adapters.notifier import Notifier
from eventstore.adapters.partitions import NATIVE, current_mode, detect_mode, maintain
from eventstore.adapters.reader import Reader
from eventstore.adapters.relay import Relay
from eventstore.config import Settings
from eventstore.entrypoints.grpc_servicer import EventStoreServicer
from eventstore.metrics import OLDEST_TRANSACTION_SECONDS
from eventstore.service_layer.append import Appender

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
SCHEMA = "eventstore"
SERVICE_NAME = eventstore_pb2.DESCRIPTOR.services_by_name["EventStoreService"].full_name


async def migrate(database_url: str, down_to: int | None = None) -> str:
    """Applies (or, with down_to, reverts) the migrations; returns the storage mode."""
    conn = await asyncpg.connect(database_url)
    try:
        mode = await detect_mode(conn)
        migrations = load_migrations(MIGRATIONS, variant=mode)
        if down_to is None:
            applied = await migrate_up(conn, SCHEMA, migrations)
            log.info("migrations: %d applied, storage mode %s", applied, mode)
        else:
            reverted = await migrate_down(conn, SCHEMA, migrations, down_to)
            log.info("migrations: %d reverted", reverted)
        return mode
    finally:
        await conn.close()


@dataclass
class EventStore:
    """A running event store: the server plus the parts tests reach into."""

    server: ServiceServer
    pool: asyncpg.Pool
    appender: Appender
    relay: Relay
    notifier: Notifier
    bus: NATS
    mode: str
    anchors: Anchors
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


async def _upkeep(pool: asyncpg.Pool, settings: Settings, mode: str) -> None:
    indexed = False
    while True:
        try:
            await maintain(
                pool,
                mode=mode,
                days_ahead=settings.partition_days_ahead,
                retention_days=settings.retention_days,
                chunk_interval_hours=settings.timescale_chunk_hours,
            )
        except Exception:
            log.exception("partition upkeep failed; retrying next round")
        if not indexed:
            # Migration 0007's index, built online here (adapters/effective_index.py) rather
            # than in the migration: on a large log it takes minutes, appends flowing.
            try:
                indexed = await ensure_effective_index(settings.database_url, mode)
            except Exception:
                log.exception("effective-time index upkeep failed; retrying next round")
        await asyncio.sleep(settings.maintenance_interval_seconds)


async def _chain_backfill(pool: asyncpg.Pool, settings: Settings) -> None:
    """Migration 0009's hash chain for the events written before it, online
    (adapters/chain_backfill.py): walks until one finds nothing to do, then one every upkeep
    interval (a head set while an append to it was in flight, or a replica older than 0008,
    leaves a stream behind; its events stay unverified, not broken, until then)."""
    walk = Backfill(pool)
    while True:
        try:
            hashed = await walk.run()
            if hashed:
                log.info("hash chain back-fill: %d events hashed", hashed)
                await asyncio.sleep(1.0)  # a breath between walks, then the rest
                continue
        except Exception:
            log.exception("hash chain back-fill failed; retrying next round")
        await asyncio.sleep(settings.maintenance_interval_seconds)


async def sample_oldest_transaction(pool: asyncpg.Pool) -> float:
    """Age in seconds of the oldest open transaction of any client; sets the gauge.

    An old open transaction holds back the xid horizon (FM-2, docs/failure-modes.md) — vacuum
    stalls and every reader pays — so its age is exported for alerting."""
    age = await pool.fetchval(
        "SELECT coalesce(extract(epoch FROM max(clock_timestamp() - xact_start)), 0) "
        "FROM pg_stat_activity WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend'"
    )
    OLDEST_TRANSACTION_SECONDS.set(float(age))
    return float(age)


async def _watch_transactions(pool: asyncpg.Pool, interval: float = 15.0) -> None:
    while True:
        try:
            await sample_oldest_transaction(pool)
        except Exception as err:
            log.warning("could not sample open transactions: %s", err)
        await asyncio.sleep(interval)


async def build(settings: Settings) -> EventStore:
    worker = settings.server.worker
    pool = await create_pool(
        settings.database_url,
        # Per pod: each worker opens its share (WorkerSettings.share).
        min_size=worker.share(settings.db_pool_min),
        max_size=worker.share(settings.db_pool_max),
        application_name="event-store",
        # A generic plan over a table of hundreds of day partitions costs ~100 ms
        # to build (measured) and PostgreSQL builds one per connection and
        # statement after five runs; custom plans prune partitions at plan time
        # for a fraction of a millisecond.
        server_settings={"plan_cache_mode": "force_custom_plan"},
    )
    mode = await current_mode(pool)
    log.info("event store storage mode: %s", mode)
    await maintain(
        pool,
        mode=mode,
        days_ahead=settings.partition_days_ahead,
        retention_days=settings.retention_days,
        chunk_interval_hours=settings.timescale_chunk_hours,
    )
    bus = await connect_bus(settings.nats_url, "event-store")
    js = bus.jetstream()

    async def ensure_bus_stream() -> None:
        await ensure_stream(
            js,
            settings.bus_stream,
            [f"{settings.bus_subject_prefix}.>"],
            duplicate_window_seconds=settings.bus_duplicate_window_seconds,
            max_age_seconds=settings.bus_max_age_seconds or None,
            replicas=settings.bus_stream_replicas,
        )

    await ensure_bus_stream()
    appender = Appender(
        PostgresGroupWriter(
            pool,
            rollup=mode == NATIVE,
            horizon=timedelta(seconds=settings.effective_at_horizon_seconds),
        ),
        max_group_appends=settings.group_max_appends,
        max_group_events=settings.group_max_events,
    )
    appender.start()
    notifier = Notifier(settings.database_url)
    notifier.start()
    relay = Relay(
        settings.database_url,
        js,
        subject_prefix=settings.bus_subject_prefix,
        stream=settings.bus_stream,
        ensure_stream=ensure_bus_stream,
        batch_size=settings.relay_batch_size,
        poll_interval=settings.relay_poll_seconds,
        # Woken by the Notifier every worker runs anyway: one listening backend, not two
        # (PostgreSQL runs a transaction per NOTIFY in each idle listener).
        notifier=notifier,
    )
    # The background roles run in one worker of a pod (WorkerSettings.leader); the relay is
    # single-leader across pods too (its advisory lock). Every worker appends, reads and
    # serves subscriptions (each with its own notifier).
    leader = settings.server.worker.leader
    if settings.relay_enabled and leader:
        relay.start()
    tasks = (
        [
            asyncio.create_task(_upkeep(pool, settings, mode), name="upkeep"),
            asyncio.create_task(_watch_transactions(pool), name="xact-watch"),
        ]
        if leader
        else []
    )
    if leader and settings.chain_backfill_enabled:
        tasks.append(asyncio.create_task(_chain_backfill(pool, settings), name="chain-backfill"))
    anchors = Anchors(pool, bus, settings.anchor_subject)
    if leader and settings.anchors_enabled:
        tasks.append(
            asyncio.create_task(run_anchors(anchors, settings.anchor_time), name="anchors")
        )
    reader = Reader(pool)
    servicer = EventStoreServicer(
        appender,
        reader,
        notifier,
        settings.limits,
        settings.subscribe_poll_seconds,
        ChainReader(pool, reader),
    )

    async def ready() -> bool:
        return bus_connected(bus) and await ping(pool)

    server = build_server(
        settings.server,
        register=lambda s: eventstore_pb2_grpc.add_EventStoreServiceServicer_to_server(servicer, s),
        service_names=[SERVICE_NAME],
        readiness=ready,
        # Order matters: queued appends finish before the relay stops, so the
        # relay (or the next leader) publishes them; pools close last.
        on_shutdown=[
            appender.stop,
            relay.stop,
            notifier.stop,
            cancelling(tasks),
            closing_bus(bus, drain=True),
            pool.close,
        ],
        max_message_bytes=settings.limits.max_append_bytes + 1024 * 1024,
    )
    return EventStore(server, pool, appender, relay, notifier, bus, mode, anchors, tasks)
