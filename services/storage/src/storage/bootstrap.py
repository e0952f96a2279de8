"""The composition root: builds the pool, S3 client, event-store client, use cases and server."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import asyncpg
from fundledger.storage.v1 import storage_pb2, storage_pb2_grpc
from fundledger_platform.auth.client import TokenSource
from fundledger_platform.db import create_pool, ping
from fundledger_platform.errors import DomainError
from fundledger_platform.eventstore_client import EventStoreClient, EventStoreProbe
from fundledger_platform.migrations import run_migrations
from fundledger_platform.server import ServiceServer, build_server

from storage.adapters.event_log import GrpcEventLog
from storage.adapters.file_store import PostgresFiles
from storage.adapters.s3_client import open_client
from storage.adapters.s3_objects import S3Objects
from storage.config import Settings
from storage.entrypoints.grpc_servicer import StorageServicer
from storage.service_layer.ports import EventLog
from storage.service_layer.upload import Uploader
from storage.service_layer.verify import Verifier

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
SCHEMA = "storage"
SERVICE_NAME = storage_pb2.DESCRIPTOR.services_by_name["StorageService"].full_name
# Per event-store call, and how long an unacknowledged append is sent again. The upload
# keeps its transaction open across the append and the client's retries of it: the worst
# case (fundledger_platform.eventstore_client.append_worst_seconds) must end inside
# PostgreSQL's idle-in-transaction limit (60 s, fundledger_platform.db).
EVENTSTORE_TIMEOUT_SECONDS = 10.0
EVENTSTORE_APPEND_RETRY_SECONDS = 30.0


async def migrate(database_url: str, down_to: int | None = None) -> None:
    """Applies (or, with down_to, reverts) the storage migrations."""
    await run_migrations(database_url, MIGRATIONS, SCHEMA, down_to=down_to)


@dataclass
class Storage:
    """A running storage service: the server plus the parts tests reach into."""

    server: ServiceServer
    pool: asyncpg.Pool
    files: PostgresFiles
    objects: S3Objects
    events: EventLog
    uploader: Uploader


async def build(
    settings: Settings, *, events: EventLog | None = None, token: TokenSource | None = None
) -> Storage:
    """`events` replaces the event-store log (tests inject failures with it); `token` is the
    service's own identity towards the event store (default: FUNDLEDGER_AUTH_TOKEN_FILE)."""
    resources = AsyncExitStack()
    try:
        return await _assemble(settings, events, token, resources)
    except BaseException:
        await resources.aclose()
        raise


async def _assemble(
    settings: Settings,
    events: EventLog | None,
    token: TokenSource | None,
    resources: AsyncExitStack,
) -> Storage:
    worker = settings.server.worker
    pool = await create_pool(
        settings.database_url,
        # Per pod: each worker opens its share (WorkerSettings.share).
        min_size=worker.share(settings.db_pool_min),
        max_size=worker.share(settings.db_pool_max),
        application_name="storage",
    )
    resources.push_async_callback(pool.close)
    client = EventStoreClient(
        settings.eventstore_address,
        timeout_seconds=EVENTSTORE_TIMEOUT_SECONDS,
        tls=settings.server.tls,
        token=token,
        append_retry_seconds=EVENTSTORE_APPEND_RETRY_SECONDS,
    )
    resources.push_async_callback(client.close)
    probe = EventStoreProbe(settings.eventstore_address, tls=settings.server.tls, token=token)
    resources.push_async_callback(probe.close)
    s3 = await open_client(settings.s3, resources)

    objects = S3Objects(s3, settings.s3.bucket, settings.s3.region, settings.part_bytes)
    try:
        await objects.ensure_bucket()
    except DomainError as err:
        # Not fatal: health stays NOT_SERVING and keeps trying (S3Objects.ready).
        log.warning("bucket %s not ensured at start-up: %s", settings.s3.bucket, err)

    files = PostgresFiles(pool)
    event_log = events if events is not None else GrpcEventLog(client)
    uploader = Uploader(objects, files, event_log, settings.max_file_bytes)
    verifier = Verifier(
        files,
        objects,
        chunk_bytes=settings.chunk_bytes,
        progress_every=settings.verify_progress_every,
        orphan_grace=timedelta(seconds=settings.orphan_grace_seconds),
    )
    servicer = StorageServicer(files, objects, event_log, uploader, verifier, settings.chunk_bytes)

    async def ready() -> bool:
        return await objects.ready() and await ping(pool) and await probe.ready()

    server = build_server(
        settings.server,
        register=lambda s: storage_pb2_grpc.add_StorageServiceServicer_to_server(servicer, s),
        service_names=[SERVICE_NAME],
        readiness=ready,
        # The server has drained in-flight uploads before this runs; then the
        # clients and the S3 session close, the pool last (pushed first).
        on_shutdown=[resources.aclose],
    )
    return Storage(server, pool, files, objects, event_log, uploader)
