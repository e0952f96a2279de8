"""Partition helpers shared by the storage-mode and storage-concurrency tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from eventstore.bootstrap import EventStore
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from helpers import collect

# Day partitions exist only in native mode; a Timescale hypertable has chunks instead.
SKIP_ON_TIMESCALE = "native partitions only: this database keeps events in a Timescale hypertable"


def today() -> date:
    return datetime.now(UTC).date()


async def partitions(store: EventStore) -> set[str]:
    rows = await store.pool.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'eventstore.events'::regclass"
    )
    return {r["relname"] for r in rows}


async def partition_of(store: EventStore, stream_id: str, version: int) -> list[str]:
    rows = await store.pool.fetch(
        "SELECT tableoid::regclass::text AS part FROM eventstore.events "
        "WHERE stream_id = $1 AND version = $2",
        stream_id,
        version,
    )
    return [r["part"] for r in rows]


async def versions(stub: Any, stream_id: str, **fields: Any) -> list[int]:
    call = stub.ReadStream(pb.ReadStreamRequest(stream_id=stream_id, **fields))
    return [e.version for e in await collect(call)]
