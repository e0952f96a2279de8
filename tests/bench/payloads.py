"""The event every append (and every raw-insert baseline row) carries: a fund
valuation with a user and a correlation id, about 200 bytes on the wire."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from fundledger.eventstore.v1 import events_pb2
from fundledger.eventstore.v1 import eventstore_pb2 as pb

EVENT_TYPE = "VALUATION_UPDATED"


def event_data(client: int) -> bytes:
    return json.dumps(
        {"company_id": f"company-{client % 997:04d}", "valuation_cents": 125_000_000 + client},
        separators=(",", ":"),
    ).encode()


def append_request(
    stream_id: str, client: int, events: int, effective_at: bool = False
) -> pb.AppendToStreamRequest:
    """Expected version ANY; no event ids, so the server assigns fresh ones and the same
    request can be sent again and again. `effective_at`: each event is backdated by a day."""
    data = event_data(client)
    request = pb.AppendToStreamRequest(
        stream_id=stream_id,
        expected_state=pb.STREAM_STATE_ANY,
        events=[
            events_pb2.EventData(
                event_type=EVENT_TYPE,
                schema_version=1,
                data=data,
                metadata={"client": "bench"},
                correlation_id=str(uuid.uuid4()),
                user_id=f"user-{client % 1000}",
                source="bench",
            )
            for _ in range(events)
        ],
    )
    if effective_at:
        day_ago = datetime.now(UTC) - timedelta(days=1)
        for event in request.events:
            event.effective_at.FromDatetime(day_ago)
    return request


RAW_TABLE_DDL = """
CREATE SCHEMA IF NOT EXISTS bench;
DROP TABLE IF EXISTS bench.raw_events;
CREATE TABLE bench.raw_events (
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id text NOT NULL,
    category text NOT NULL,
    version bigint NOT NULL,
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    schema_version integer NOT NULL,
    data jsonb NOT NULL,
    metadata jsonb NOT NULL,
    payload_hash bytea NOT NULL,
    correlation_id text,
    user_id text,
    source text,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
)
"""

RAW_INSERT = """
INSERT INTO bench.raw_events (stream_id, category, version, event_id, event_type,
    schema_version, data, metadata, payload_hash, correlation_id, user_id, source)
VALUES ($1, 'fund', $2, $3, $4, 1, $5, '{"client": "bench"}', $6, $7, $8, 'bench')
"""

# The same rows, `n` per statement: one INSERT ... SELECT FROM unnest of arrays (what a bulk
# writer does; the baseline of 100-event batch appends).
RAW_UNNEST = """
INSERT INTO bench.raw_events (stream_id, category, version, event_id, event_type,
    schema_version, data, metadata, payload_hash, correlation_id, user_id, source)
SELECT $1, 'fund', v, e, $2, 1, d::jsonb, '{"client": "bench"}', h, c, $3, 'bench'
FROM unnest($4::bigint[], $5::uuid[], $6::text[], $7::bytea[], $8::text[]) AS u(v, e, d, h, c)
"""
