"""SQL of the append path, in one place so the locking story reads top to bottom."""

CLAIM_IDEMPOTENCY_KEY = """
INSERT INTO eventstore.idempotency_keys (stream_id, idempotency_key, request_hash)
VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING
RETURNING 1
"""

GET_IDEMPOTENCY_KEY = """
SELECT request_hash, result FROM eventstore.idempotency_keys
WHERE stream_id = $1 AND idempotency_key = $2
"""

RELEASE_IDEMPOTENCY_KEY = """
DELETE FROM eventstore.idempotency_keys WHERE stream_id = $1 AND idempotency_key = $2
"""

STORE_IDEMPOTENCY_RESULTS = """
UPDATE eventstore.idempotency_keys k SET result = v.result
FROM unnest($1::text[], $2::text[], $3::jsonb[]) AS v(stream_id, idempotency_key, result)
WHERE k.stream_id = v.stream_id AND k.idempotency_key = v.idempotency_key
"""


# Every append of a group: check its tenant, move its head and claim its event ids
# (migrations 0003, 0004).
ADVANCE_HEADS = """
SELECT new_version, actual_version, claimed, foreign_stream, stream_tenant
FROM eventstore.advance_heads(
    $1::text[], $2::text[], $3::text[], $4::bigint[], $5::int[], $6::uuid[], $7::text[],
    $8::text[])
"""

STREAM_TENANT = "SELECT tenant FROM eventstore.streams WHERE stream_id = $1"

FIND_EVENT_IDS = """
SELECT event_id, stream_id, version FROM eventstore.event_ids WHERE event_id = ANY($1::uuid[])
"""

EVENT_SPAN = """
SELECT min(position) AS first_position, max(position) AS last_position,
       max(recorded_at) AS recorded_at
FROM eventstore.events
WHERE stream_id = $1 AND version BETWEEN $2 AND $3
"""

TAKE_POSITIONS = """
UPDATE eventstore.log_head
SET last_position = last_position + $1,
    last_recorded_at = greatest(clock_timestamp(), last_recorded_at)
RETURNING last_position, last_recorded_at
"""

# One statement, prepared once per connection (copy_records_to_table would
# re-read the table's column types on every call).
INSERT_EVENTS = """
INSERT INTO eventstore.events (
    position, stream_id, category, version, event_id, event_type, schema_version, data,
    metadata, payload_hash, idempotency_key, causation_id, correlation_id, user_id, source,
    tenant, actor, recorded_at)
SELECT p, s, c, v, i, t, sv, d::jsonb, m::jsonb, h, k, ca, co, u, so, te, a, $18
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::uuid[], $6::text[],
            $7::int[], $8::text[], $9::text[], $10::bytea[], $11::text[], $12::text[],
            $13::text[], $14::text[], $15::text[], $16::text[], $17::text[])
     AS e(p, s, c, v, i, t, sv, d, m, h, k, ca, co, u, so, te, a)
"""

STAMP_HEADS = """
UPDATE eventstore.streams
SET first_recorded_at = coalesce(first_recorded_at, $2), last_recorded_at = $2
WHERE stream_id = ANY($1::text[])
"""

BUMP_DAILY_COUNTS = """
INSERT INTO eventstore.daily_counts AS d (day, tenant, user_id, event_type, count)
SELECT ($1::timestamptz AT TIME ZONE 'UTC')::date, te, u, t, c
FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[]) AS v(te, u, t, c)
ON CONFLICT (day, tenant, user_id, event_type) DO UPDATE SET count = d.count + excluded.count
"""

NOTIFY = "SELECT pg_notify($1, $2)"
