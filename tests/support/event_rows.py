"""Writing the event store's tables with SQL, for tests that need a log the service would never
produce: events on past days, a damaged payload, a missing version.

The event store validates what it appends, so only SQL can store an unreadable payload or
remove an event; each helper does what it says to exactly one row and asserts so.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from fundledger_kernel import canonical_json, payload_hash

# A fund payload its schema refuses (money must be an integer).
UNREADABLE_PAYLOAD = '{"amount_cents": "lots"}'


async def insert_raw_event(
    conn: Any,
    stream_id: str,
    version: int,
    recorded_at: datetime | None = None,
    *,
    event_type: str = "NOTE_ADDED",
    data: Any = None,
    raw_data: str | None = None,
    user_id: str | None = None,
    correlation_id: str | None = None,
) -> int:
    """Writes one event as an append would (a position from log_head, the event id claimed,
    the stream head moved) and returns its position. `recorded_at` None: now, never before the
    log's last event; a past `recorded_at` gives history the service cannot produce on demand.
    `raw_data` stores JSON text as is (an unreadable payload); else `data` (default {"n": v})."""
    if raw_data is not None:
        payload, digest = raw_data, hashlib.sha256(raw_data.encode()).digest()
    else:
        value = {"n": version} if data is None else data
        payload, digest = canonical_json(value).decode(), payload_hash(value)
    category = stream_id.partition("-")[0]
    event_id = uuid.uuid4()
    async with conn.transaction():
        position, stamped = await conn.fetchrow(
            "UPDATE eventstore.log_head SET last_position = last_position + 1, "
            "last_recorded_at = CASE WHEN $1::timestamptz IS NULL "
            "THEN greatest(last_recorded_at, clock_timestamp()) ELSE last_recorded_at END "
            "RETURNING last_position, coalesce($1::timestamptz, last_recorded_at)",
            recorded_at,
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
            digest,
            user_id,
            correlation_id,
            stamped,
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
            stamped,
        )
    return int(position)


async def rewrite_payload(conn: Any, stream_id: str, version: int, data_json: str) -> None:
    """Overwrites one stored event's payload, as an edit of the row would."""
    status = await conn.execute(
        "UPDATE eventstore.events SET data = $3::jsonb WHERE stream_id = $1 AND version = $2",
        stream_id,
        version,
        data_json,
    )
    assert status == "UPDATE 1", status


async def delete_event(conn: Any, stream_id: str, version: int) -> None:
    """Deletes one stored event: a gap in the stream's log."""
    status = await conn.execute(
        "DELETE FROM eventstore.events WHERE stream_id = $1 AND version = $2", stream_id, version
    )
    assert status == "DELETE 1", status
