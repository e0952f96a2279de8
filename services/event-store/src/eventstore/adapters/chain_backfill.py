"""Computes the hash chain of events written before it existed (migration 0009), online.

Migration 0009 adds the columns only: every older event's hash is NULL, and so is the last hash
of every older stream, whose appends therefore write NULL hashes too (commit_group chains on a
stream's last hash only when it is the hash of the stream's current version, chain_version).
This step, run by the leader (bootstrap._chain_backfill), walks the log in position order from
its checkpoint (eventstore.chain_backfill, migration 0010) while appends go on:

- position order is each stream's version order, and it is recorded_at order (FM-9), so a
  batch of ``BATCH`` positions lies in a day partition or two (its time bounds prune the
  others) however long its streams have lived — where a walk stream by stream would read and
  plan every partition a stream ever wrote to, for each stream;
- each event without a hash gets ``link(previous, event)`` (the kernel's reference,
  fundledger_kernel.chain, from the event as a reader gets it: the very computation the append
  does in SQL, a test holds the two equal); the previous hash is the one this walk computed or
  saw last for the stream (kept in memory, at most ``CACHE`` streams), else read from the log.
  Each batch is one short transaction: the hashes (only where still NULL), then the heads of the
  streams whose last event it hashed (only where the head is still at that version), then the
  checkpoint. It takes no lock an append waits for but those heads' rows, for an instant;
- a head set while an append to it was in flight (that append wrote NULL hashes: it read the
  head before) keeps chain_version behind the stream's version; the walk reaches that event
  later and catches the head up. Appends chain on every stream whose head is caught up;
- resumable: the checkpoint is committed with each batch, so a walk that stopped (failover,
  crash) goes on from there; two leaders walking at once compute the same hashes.

An event whose previous version is not in the log (deleted, or removed by retention) is left
without a hash, and so is the rest of its stream (logged): chaining over the gap would vouch
for a log that lost an event; VerifyStream reports it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import UTC, datetime, timedelta

import asyncpg
from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_kernel.chain import genesis, link
from fundledger_platform.chain_check import chain_event

from eventstore.adapters.conn import Conn
from eventstore.adapters.records import COLUMNS, RowConverter

log = logging.getLogger(__name__)

BATCH = 5000
_START = datetime.min.replace(tzinfo=UTC)
CACHE = 500_000  # streams whose last hash is kept in memory (~100 bytes each)

_CHECKPOINT = "SELECT position, recorded_at FROM eventstore.chain_backfill FOR UPDATE"
# The next positions. recorded_at never decreases with position (FM-9): the checkpoint's time
# bounds the scan below, which prunes every older partition, and WINDOW after it bounds it
# above, which prunes every newer one. Without the upper bound each batch read every newer
# partition: cheap where each has a position index, but a compressed TimescaleDB chunk has
# none, and every batch decompressed all of them (10M events, older ones compressed: 1,300
# events/s). The window's rows are a prefix of the log after the checkpoint in position order,
# so a batch cut short by it is still the right next batch; only an empty window needs the
# unbounded read (a gap in time longer than WINDOW, or the head).
WINDOW = timedelta(days=1)
_ROWS = (
    f"SELECT {COLUMNS} FROM eventstore.events WHERE position > $1 AND recorded_at >= $2 "
    "AND recorded_at < $2 + $4::interval ORDER BY position LIMIT $3"
)
_ROWS_UNBOUNDED = (
    f"SELECT {COLUMNS} FROM eventstore.events WHERE position > $1 AND recorded_at >= $2 "
    "ORDER BY position LIMIT $3"
)
# Where a walk that has not started begins (TimescaleDB answers from its first chunk).
_FIRST_RECORDED = "SELECT min(recorded_at) FROM eventstore.events WHERE position > $1"
_PREVIOUS = (
    "SELECT e.hash FROM eventstore.events e JOIN eventstore.streams s USING (stream_id) "
    "WHERE e.stream_id = $1 AND e.version = $2 AND e.recorded_at >= s.first_recorded_at "
    "AND e.recorded_at <= $3"
)
_SET = (
    "UPDATE eventstore.events e SET hash = u.h "
    "FROM unnest($1::text[], $2::bigint[], $3::bytea[]) AS u(s, v, h) "
    "WHERE e.stream_id = u.s AND e.version = u.v AND e.recorded_at BETWEEN $4 AND $5 "
    "AND e.hash IS NULL"
)
_HEADS = (
    "UPDATE eventstore.streams t SET last_hash = u.h, chain_version = u.v "
    "FROM unnest($1::text[], $2::bigint[], $3::bytea[]) AS u(s, v, h) "
    "WHERE t.stream_id = u.s AND t.version = u.v "
    "AND t.chain_version IS DISTINCT FROM t.version"
)


class Backfill:
    """The walk; one per leader (its cache lives as long as it does)."""

    def __init__(self, pool: asyncpg.Pool, *, batch: int = BATCH, cache: int = CACHE) -> None:
        self._pool = pool
        self._batch = batch
        self._cache_size = cache
        # stream id -> (version, hash) of the last event the walk saw
        self._last: OrderedDict[str, tuple[int, bytes]] = OrderedDict()
        self._broken: set[str] = set()

    async def run(self) -> int:
        """Batches until the walk reaches the log's head; the events hashed."""
        if await self._caught_up():
            return 0
        hashed = 0
        while True:
            done, more = await self.step()
            hashed += done
            if not more:
                return hashed

    async def _caught_up(self) -> bool:
        """When every stream's head has its hash, no event lacks one: the checkpoint jumps to
        the log's head rather than read what appends chained themselves. Under the log_head
        lock (no append in flight; they wait for the one scan of the heads)."""
        async with self._pool.acquire() as conn, conn.transaction():
            position = await conn.fetchval(
                "SELECT last_position FROM eventstore.log_head FOR NO KEY UPDATE"
            )
            behind = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM eventstore.streams "
                "WHERE chain_version IS DISTINCT FROM version)"
            )
            if behind:
                return False
            await conn.execute(
                "UPDATE eventstore.chain_backfill SET position = $1, "
                "recorded_at = (SELECT last_recorded_at FROM eventstore.log_head) "
                "WHERE position < $1",
                position,
            )
            return True

    async def step(self) -> tuple[int, bool]:
        """One batch: (events hashed, whether a full batch was read)."""
        async with self._pool.acquire() as conn, conn.transaction():
            # Plans with the batch's values: a generic plan would cover every partition.
            await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            checkpoint = await conn.fetchrow(_CHECKPOINT)
            assert checkpoint is not None  # migration 0010's one row
            position, since = checkpoint["position"], checkpoint["recorded_at"]
            if not isinstance(since, datetime) or since.tzinfo is None:
                # '-infinity' (not walked yet), which the driver reads naive.
                since = await conn.fetchval(_FIRST_RECORDED, position) or _START
            rows = await conn.fetch(_ROWS, position, since, self._batch, WINDOW)
            window_cut = bool(rows)
            if not rows:
                rows = await conn.fetch(_ROWS_UNBOUNDED, position, since, self._batch)
                if not rows:
                    return 0, False
            converter = RowConverter()
            streams: list[str] = []
            versions: list[int] = []
            hashes: list[bytes] = []
            heads: dict[str, tuple[int, bytes]] = {}
            for row in rows:
                event = converter.convert(RecordedEvent, row)
                previous = await self._previous(conn, event, row["recorded_at"])
                if previous is None:
                    continue
                current = event.hash or link(previous, chain_event(event))
                if not event.hash:
                    streams.append(event.stream_id)
                    versions.append(event.version)
                    hashes.append(current)
                self._remember(event.stream_id, event.version, current)
                heads[event.stream_id] = (event.version, current)
            lo, hi = rows[0]["recorded_at"], rows[-1]["recorded_at"]
            if streams:
                await conn.execute(_SET, streams, versions, hashes, lo, hi)
            await conn.execute(
                _HEADS,
                list(heads),
                [v for v, _ in heads.values()],
                [h for _, h in heads.values()],
            )
            await conn.execute(
                "UPDATE eventstore.chain_backfill SET position = $1, recorded_at = $2",
                rows[-1]["position"],
                hi,
            )
        # A batch the window cut short is not the end of the log.
        return len(streams), window_cut or len(rows) == self._batch

    async def _previous(
        self, conn: Conn, event: RecordedEvent, recorded_at: datetime
    ) -> bytes | None:
        """The hash the event chains on; None when it cannot be known (a gap)."""
        stream_id = event.stream_id
        if stream_id in self._broken:
            return None
        if event.version == 1:
            return genesis(stream_id)
        known = self._last.get(stream_id)
        if known is not None and known[0] == event.version - 1:
            return known[1]
        stored = await conn.fetchval(_PREVIOUS, stream_id, event.version - 1, recorded_at)
        if stored is None:
            log.error(
                "hash chain back-fill: stream %s has no hashed version %d before version %d: "
                "left without a hash from there",
                stream_id,
                event.version - 1,
                event.version,
            )
            self._broken.add(stream_id)
            return None
        return bytes(stored)

    def _remember(self, stream_id: str, version: int, hash_: bytes) -> None:
        self._last[stream_id] = (version, hash_)
        self._last.move_to_end(stream_id)
        if len(self._last) > self._cache_size:
            self._last.popitem(last=False)


async def backfill(pool: asyncpg.Pool, *, batch: int = BATCH) -> int:
    """One walk from the checkpoint to the log's head; the events hashed."""
    return await Backfill(pool, batch=batch).run()
