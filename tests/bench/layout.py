"""Where seeded events go: stream ids, versions, positions and times, in SQL and Python.

Events i = 0..N-1 get positions first_position + i and times spread evenly from
`start` to `end`, so positions increase with time. Streams hold `per_stream`
events each and are written in blocks: the streams of one block interleave
round-robin, and a block spans about `stream_days` days, so each stream's events
lie within a few days (and a few day partitions), as a fund's do.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Layout:
    tag: str  # makes stream and event ids unique to one seeding
    first_position: int
    streams: int
    per_stream: int
    start: datetime
    end: datetime
    stream_days: float = 3.0

    @property
    def events(self) -> int:
        return self.streams * self.per_stream

    @property
    def last_position(self) -> int:
        return self.first_position + self.events - 1

    @property
    def span_seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def block_streams(self) -> int:
        """Streams written together (interleaved) in one block of about `stream_days`."""
        span_days = self.span_seconds / 86400
        if span_days <= self.stream_days:
            return self.streams
        return max(1, min(self.streams, round(self.streams * self.stream_days / span_days)))

    @property
    def block_events(self) -> int:
        return self.block_streams * self.per_stream

    @property
    def blocks(self) -> int:
        return -(-self.streams // self.block_streams)

    def stream_id(self, index: int) -> str:
        return stream_id(self.tag, index)


def stream_id(tag: str, index: int) -> str:
    """The id of seeded stream `index` (the same as SQL's STREAM_ID_SQL)."""
    return f"fund-{uuid.UUID(hashlib.md5(f'{tag}-{index}'.encode()).hexdigest())}"


# $1 = tag, s = stream index.
STREAM_ID_SQL = "'fund-' || md5($1::text || '-' || s)::uuid::text"

# Parameters: $1 tag, $2 first position, $3 events, $4 streams, $5 block streams,
# $6 per stream, $7 start, $8 span seconds, $9 first index, $10 last index.
# One statement writes the events and their rows in event_ids.
INSERT_EVENTS = f"""
WITH ev AS (
  INSERT INTO eventstore.events (position, stream_id, category, version, event_id,
    event_type, schema_version, data, metadata, payload_hash, correlation_id, user_id,
    source, recorded_at)
  SELECT $2::bigint + i, {STREAM_ID_SQL}, 'fund', o / bs + 1, md5($1 || ':' || i)::uuid,
    'VALUATION_UPDATED', 1, d, '{{}}'::jsonb, sha256(convert_to(d::text, 'UTF8')),
    'corr-' || $1 || '-' || (i / 10), 'user-' || (s % 1000), 'bench-loader',
    $7::timestamptz + make_interval(secs => $8::float8 * i / $3::bigint)
  FROM (
    SELECT i, o, bs, (i / ($5::bigint * $6::bigint)) * $5::bigint + o % bs AS s,
      jsonb_build_object('company_id', 'co-' || (i % 997), 'valuation_cents', i * 100) AS d
    FROM (
      SELECT i, i % ($5::bigint * $6::bigint) AS o,
        least($5::bigint, $4::bigint - (i / ($5::bigint * $6::bigint)) * $5::bigint) AS bs
      FROM generate_series($9::bigint, $10::bigint) AS i
    ) x
  ) y
  RETURNING event_id, stream_id, version
)
INSERT INTO eventstore.event_ids (event_id, stream_id, version) SELECT * FROM ev
"""

# Parameters: $1 tag, $2 first stream, $3 last stream, $4 block streams, $5 per stream,
# $6 streams, $7 start, $8 span seconds, $9 events.
INSERT_HEADS = f"""
INSERT INTO eventstore.streams (stream_id, category, version, first_recorded_at,
  last_recorded_at, created_at)
SELECT {STREAM_ID_SQL}, 'fund', $5::bigint,
  $7::timestamptz + make_interval(secs => $8::float8 * f / $9::bigint),
  $7::timestamptz + make_interval(secs => $8::float8 * (f + ($5::bigint - 1) * bs) / $9::bigint),
  $7::timestamptz + make_interval(secs => $8::float8 * f / $9::bigint)
FROM (
  SELECT s, bs, (s / $4::bigint) * $4::bigint * $5::bigint + s % $4::bigint AS f
  FROM (
    SELECT s, least($4::bigint, $6::bigint - (s / $4::bigint) * $4::bigint) AS bs
    FROM generate_series($2::bigint, $3::bigint) AS s
  ) x
) y
"""
