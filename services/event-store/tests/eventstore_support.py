"""Small builders shared by the event-store tests."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from fundledger.eventstore.v1 import events_pb2
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger_kernel.canonical import canonical_json, payload_hash

from tests.support.rpc_errors import metadata_of as metadata_of
from tests.support.rpc_errors import reason_of as reason_of


def new_stream(category: str = "fund") -> str:
    return f"{category}-{uuid.uuid4()}"


def event(event_type: str = "NOTE_ADDED", data: Any = None, **fields: Any) -> events_pb2.EventData:
    payload = {"n": 1} if data is None else data
    return events_pb2.EventData(event_type=event_type, data=json.dumps(payload).encode(), **fields)


def append(
    stream_id: str, *events: events_pb2.EventData, **fields: Any
) -> pb.AppendToStreamRequest:
    return pb.AppendToStreamRequest(stream_id=stream_id, events=list(events), **fields)


async def read_versions(stub: Any, stream_id: str) -> list[int]:
    return [
        r.event.version async for r in stub.ReadStream(pb.ReadStreamRequest(stream_id=stream_id))
    ]


# -- added for the read, analytics and storage-mode tests ------------------------------


def new_category() -> str:
    """A category no other test uses, so category filters see only this test's streams."""
    return f"c{uuid.uuid4().hex[:12]}"


def new_type() -> str:
    """An event type no other test uses."""
    return f"T_{uuid.uuid4().hex[:12]}"


async def collect(call: Any) -> list[Any]:
    """Every `.event` of a server-streaming read (ReadStream or ReadAll)."""
    return [r.event async for r in call]


async def insert_raw_event(
    conn: Any,
    stream_id: str,
    version: int,
    recorded_at: datetime,
    *,
    event_type: str = "NOTE_ADDED",
    data: Any = None,
    user_id: str | None = None,
    correlation_id: str | None = None,
) -> int:
    """Writes one event straight into the log with SQL, as an append would (a
    position from log_head, the event id claimed, the stream head moved), but at
    any `recorded_at`; returns its position. For history the service cannot
    produce on demand (events on past days)."""
    value = {"n": version} if data is None else data
    payload = canonical_json(value).decode()
    category = stream_id.partition("-")[0]
    event_id = uuid.uuid4()
    async with conn.transaction():
        position = int(
            await conn.fetchval(
                "UPDATE eventstore.log_head SET last_position = last_position + 1 "
                "RETURNING last_position"
            )
        )
        await conn.execute(
            "INSERT INTO eventstore.events (position, stream_id, category, version, event_id, "
            "event_type, schema_version, data, metadata, payload_hash, user_id, correlation_id, "
            "recorded_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7::jsonb, '{}'::jsonb, "
            "$8, $9, $10, $11)",
            position,
            stream_id,
            category,
            version,
            event_id,
            event_type,
            payload,
            payload_hash(value),
            user_id,
            correlation_id,
            recorded_at,
        )
        await conn.execute(
            "INSERT INTO eventstore.event_ids (event_id, stream_id, version) VALUES ($1, $2, $3)",
            event_id,
            stream_id,
            version,
        )
        await conn.execute(
            "INSERT INTO eventstore.streams AS s "
            "(stream_id, category, version, first_recorded_at, last_recorded_at) "
            "VALUES ($1, $2, $3, $4, $4) ON CONFLICT (stream_id) DO UPDATE SET "
            "version = greatest(s.version, excluded.version), "
            "first_recorded_at = least(s.first_recorded_at, excluded.first_recorded_at), "
            "last_recorded_at = greatest(s.last_recorded_at, excluded.last_recorded_at)",
            stream_id,
            category,
            version,
            recorded_at,
        )
    return position
