"""Computes the hash chain of events written before it existed (migration 0009), online.

Migration 0009 adds the columns only: every older event's hash is NULL, and so is the last hash
of every older stream, whose appends therefore write NULL hashes too (commit_group chains on a
stream's last hash only when it is the hash of the stream's current version, chain_version).
This step, run by the leader (bootstrap._chain_backfill), catches each such stream up, in
version order, while appends go on:

- the events up to the version the stream had when its turn came are hashed in batches of
  ``BATCH`` events, each batch its own short transaction that takes no lock an append waits
  for (it only sets the hash of existing rows; appends only insert new ones);
- the last step takes the log_head lock, as every append transaction does first, so no append
  is in flight meanwhile: it hashes what was appended since (NULL hashes), sets the stream's
  last hash and chain_version to its version, and commits; from then on the stream's appends
  chain in SQL. Appends wait for it (they are serialized on log_head anyway): one batch at
  most, usually a handful of events. When more than a batch came in since, another unlocked
  batch runs first;
- resumable: where a stream resumes is found from the events themselves (the last version with
  a hash), so a step that stopped midway (a failover, a crash) loses nothing and repeats
  nothing. Two leaders running it at once compute the same hashes; the locked step re-reads
  the head.

Each hash is computed by the kernel's reference (fundledger_kernel.chain) from the event as a
reader gets it, the very computation the append does in SQL (a test holds the two equal).

A stream with a missing version is left alone (logged): chaining over the gap would vouch for
a log that lost an event; VerifyStream reports it. After retention removed a stream's first
events, its chain starts from the genesis hash at the first event kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_kernel.chain import genesis, link

from eventstore.adapters.conn import Conn
from eventstore.adapters.records import COLUMNS, RowConverter
from eventstore.domain.chain_events import chain_event

log = logging.getLogger(__name__)

BATCH = 2000
# Streams whose chain lags their version, a page at a time in stream id order.
_PENDING = (
    "SELECT stream_id FROM eventstore.streams WHERE stream_id > $1 "
    "AND chain_version IS DISTINCT FROM version ORDER BY stream_id LIMIT $2"
)
_HEAD = (
    "SELECT version, first_recorded_at, last_recorded_at FROM eventstore.streams "
    "WHERE stream_id = $1"
)
# The stream's last hashed event: where the back-fill resumes (the hashed events are a prefix).
_LAST_HASHED = (
    "SELECT version, hash FROM eventstore.events WHERE stream_id = $1 AND hash IS NOT NULL "
    "AND recorded_at BETWEEN $2 AND $3 ORDER BY version DESC LIMIT 1"
)
_ROWS = (
    f"SELECT {COLUMNS} FROM eventstore.events WHERE stream_id = $1 AND version > $2 "
    "AND recorded_at BETWEEN $3 AND $4 ORDER BY version LIMIT $5"
)
# The bounds on recorded_at prune the update to the partitions (chunks) the batch lies in.
_SET = (
    "UPDATE eventstore.events e SET hash = u.h "
    "FROM unnest($2::bigint[], $3::bytea[]) AS u(v, h) "
    "WHERE e.stream_id = $1 AND e.version = u.v AND e.recorded_at BETWEEN $4 AND $5 "
    "AND e.hash IS NULL"
)


@dataclass
class _Cursor:
    """How far one stream's chain is computed: the version and its hash."""

    version: int
    hash: bytes


class GapFound(Exception):
    """The stream misses a version: left unchained."""


async def backfill(pool: asyncpg.Pool, *, batch: int = BATCH, page: int = 100) -> int:
    """One pass over every stream whose chain lags its version; the events hashed."""
    done = 0
    after = ""
    while True:
        streams = [r["stream_id"] for r in await pool.fetch(_PENDING, after, page)]
        if not streams:
            return done
        for stream_id in streams:
            try:
                done += await backfill_stream(pool, stream_id, batch=batch)
            except GapFound as gap:
                log.error("hash chain back-fill: %s", gap)
        after = streams[-1]


async def backfill_stream(pool: asyncpg.Pool, stream_id: str, *, batch: int = BATCH) -> int:
    """Catches one stream's chain up to its head; the events hashed."""
    head = await pool.fetchrow(_HEAD, stream_id)
    if head is None or head["first_recorded_at"] is None:
        return 0
    bounds = (head["first_recorded_at"], head["last_recorded_at"])
    last = await pool.fetchrow(_LAST_HASHED, stream_id, *bounds)
    cursor = _Cursor(0, b"") if last is None else _Cursor(last["version"], last["hash"])
    hashed = 0
    # Unlocked batches up to the version the stream had at the start.
    while head["version"] - cursor.version > batch:
        async with pool.acquire() as conn:
            hashed += await _batch(conn, stream_id, cursor, batch, bounds[0])
    # The rest under the log_head lock (appends wait), unless too much came in meanwhile.
    for _ in range(100):
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT 1 FROM eventstore.log_head FOR NO KEY UPDATE")
            locked = await conn.fetchrow(
                "SELECT version, chain_version, last_recorded_at FROM eventstore.streams "
                "WHERE stream_id = $1",
                stream_id,
            )
            assert locked is not None  # a stream head is never deleted
            if locked["chain_version"] == locked["version"]:
                return hashed  # another leader finished it
            if locked["version"] - cursor.version <= batch:
                hashed += await _batch(conn, stream_id, cursor, batch, bounds[0])
                if cursor.version != locked["version"]:
                    raise GapFound(
                        f"stream {stream_id}: no event after version {cursor.version} "
                        f"(head {locked['version']})"
                    )
                await conn.execute(
                    "UPDATE eventstore.streams SET last_hash = $2, chain_version = $3 "
                    "WHERE stream_id = $1",
                    stream_id,
                    cursor.hash,
                    cursor.version,
                )
                return hashed
        async with pool.acquire() as conn:
            hashed += await _batch(conn, stream_id, cursor, batch, bounds[0])
    return hashed  # a stream appended to faster than it is hashed: next pass


async def _batch(conn: Conn, stream_id: str, cursor: _Cursor, batch: int, since: datetime) -> int:
    """Hashes the next ``batch`` events of the stream after ``cursor`` (which moves)."""
    last_at = await conn.fetchval(
        "SELECT last_recorded_at FROM eventstore.streams WHERE stream_id = $1", stream_id
    )
    rows = await conn.fetch(_ROWS, stream_id, cursor.version, since, last_at, batch)
    if not rows:
        return 0
    converter = RowConverter()
    versions: list[int] = []
    hashes: list[bytes] = []
    previous = cursor.hash or genesis(stream_id)
    # The stream's first event kept may lie after version 1 (retention), nowhere else a gap.
    expected = None if cursor.version == 0 else cursor.version + 1
    for row in rows:
        event = converter.convert(RecordedEvent, row)
        if expected is not None and event.version != expected:
            break  # a gap: hash up to it
        expected = event.version + 1
        previous = link(previous, chain_event(event))
        versions.append(event.version)
        hashes.append(previous)
    if not versions:
        raise GapFound(f"stream {stream_id}: no event after version {cursor.version}")
    times = [r["recorded_at"] for r in rows[: len(versions)]]
    await conn.execute(_SET, stream_id, versions, hashes, min(times), max(times))
    cursor.version, cursor.hash = versions[-1], hashes[-1]
    return len(versions)
