"""Log rows to the wire form (RecordedEvent), shared by reads, Subscribe and the relay."""

from __future__ import annotations

import json

import asyncpg
from fundledger.eventstore.v1 import events_pb2


def to_recorded_event(row: asyncpg.Record) -> events_pb2.RecordedEvent:
    event = events_pb2.RecordedEvent(
        stream_id=row["stream_id"],
        version=row["version"],
        position=row["position"],
        event_id=str(row["event_id"]),
        event_type=row["event_type"],
        schema_version=row["schema_version"],
        data=row["data"].encode(),
        metadata=json.loads(row["metadata"]),
        causation_id=row["causation_id"] or "",
        correlation_id=row["correlation_id"] or "",
        user_id=row["user_id"] or "",
        source=row["source"] or "",
        category=row["category"],
        tenant=row["tenant"] or "",
        actor=row["actor"] or "",
    )
    event.recorded_at.FromDatetime(row["recorded_at"])
    return event
