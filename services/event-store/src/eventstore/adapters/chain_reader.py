"""What verifying the hash chain reads (service_layer/verify.py): stream heads with their last
hash, the streams in id order, and a stream's events as readers get them. Every query narrowed
to the caller's tenant (fundledger_platform.tenant_sql), as every read of the log is."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime, timedelta

import asyncpg
from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_platform.tenant_sql import scoped

from eventstore.adapters.reader import Reader
from eventstore.adapters.records import RowConverter
from eventstore.service_layer.verify import Anchored, ChainHead, DayAnchor

# Rows per query of a stream's events: verification reads every one of them.
CHUNK = 2000
_HEAD = (
    "SELECT stream_id, version, last_hash, chain_version FROM eventstore.streams "
    "WHERE {where} AND {tenant} ORDER BY stream_id LIMIT $2"
)
# An incremental VerifyLog: the streams with an event after position $3. The inner query finds
# them from the events (its `tenant` is the events' copy of their stream's: a page of another
# tenant's streams would end the walk early); the outer reads their heads.
# Cost (EXPLAIN ANALYZE, 20,000 events over 2,000 streams and 10 days, both storage modes): a
# recent position reads only the events after it — events_position in each partition or chunk
# (one index probe per partition/chunk: positions do not prune by time), then a sort of their
# stream ids — so a page costs O(events after P) and a run O(pages x that), pages being the
# changed streams / PAGE; an old position instead walks events_stream_effective (stream id
# order) and stops after PAGE stream ids, which is the full run's cost. A time bound ($4, see
# ChainReader._recorded_since) prunes the partitions and chunks older than the position: without
# it, TimescaleDB chunks already compressed (older than 7 days; no position index) were
# decompressed whole by every page (10M events: seconds a page).
_CHANGED = (
    "stream_id IN (SELECT DISTINCT stream_id FROM eventstore.events "
    "WHERE position > $3 AND recorded_at >= $4 AND {where} AND {tenant} "
    "ORDER BY stream_id LIMIT $2)"
)
# The earliest position recorded at or after $1 (partitions and chunks before $1 pruned).
_FIRST_SINCE = "SELECT min(position) FROM eventstore.events WHERE recorded_at >= $1"
# Windows back from the log's last event, doubling, looked at for the time bound: a day to
# about 5.6 years; an older position goes without one.
_FIRST_WINDOW = timedelta(days=1)
_WINDOWS = 12
_NO_BOUND = datetime.min.replace(tzinfo=UTC)


class ChainReader:
    def __init__(self, pool: asyncpg.Pool, reader: Reader) -> None:
        self._pool = pool
        self._reader = reader
        # after_position -> its time bound, for the pages of a run (a few runs at a time).
        self._bounds: OrderedDict[int, datetime] = OrderedDict()

    async def head(self, stream_id: str) -> ChainHead | None:
        heads = await self._heads("stream_id = $1", stream_id, 1)
        return heads[0] if heads else None

    async def heads(
        self, start: str, limit: int, *, inclusive: bool, after_position: int = 0
    ) -> list[ChainHead]:
        """The streams from ``start`` (after it unless ``inclusive``) in id order, at most
        ``limit``; with ``after_position``, only those with an event at a later position."""
        where = f"stream_id {'>=' if inclusive else '>'} $1"
        if after_position > 0:
            since = await self._recorded_since(after_position)
            return await self._heads(
                _CHANGED.replace("{where}", where), start, limit, after_position, since
            )
        return await self._heads(where, start, limit)

    async def count(self, from_stream_id: str, after_position: int = 0) -> int:
        if after_position > 0:
            text, values = scoped(
                "SELECT count(DISTINCT stream_id) FROM eventstore.events "
                "WHERE position > $2 AND recorded_at >= $3 AND stream_id >= $1 AND {tenant}",
                from_stream_id,
                after_position,
                await self._recorded_since(after_position),
            )
        else:
            text, values = scoped(
                "SELECT count(*) FROM eventstore.streams WHERE stream_id >= $1 AND {tenant}",
                from_stream_id,
            )
        return int(await self._pool.fetchval(text, *values))

    async def _recorded_since(self, after_position: int) -> datetime:
        """A time no event after ``after_position`` was recorded before: recorded_at never
        decreases with position (FM-9), so once a window back from the log's last event holds
        position ``after_position + 1`` or an earlier one, every later position is in it."""
        known = self._bounds.get(after_position)
        if known is not None:
            return known
        bound = _NO_BOUND
        last = await self._pool.fetchval("SELECT last_recorded_at FROM eventstore.log_head")
        if isinstance(last, datetime) and last.tzinfo is not None:  # '-infinity': empty log
            window = _FIRST_WINDOW
            for _ in range(_WINDOWS):
                first = await self._pool.fetchval(_FIRST_SINCE, last - window)
                if first is not None and first <= after_position + 1:
                    bound = last - window
                    break
                window *= 2
        self._bounds[after_position] = bound
        if len(self._bounds) > 64:
            self._bounds.popitem(last=False)
        return bound

    async def head_position(self) -> int:
        """The log's last position, every tenant's (positions are global)."""
        return int(await self._pool.fetchval("SELECT last_position FROM eventstore.log_head"))

    async def events(self, stream_id: str) -> AsyncIterator[list[RecordedEvent]]:
        """The stream's events in version order, as a read returns them."""
        rows = await self._reader.read_stream(
            stream_id,
            from_version=None,
            backwards=False,
            max_count=0,
            max_recorded_at=None,
            chunk=CHUNK,
        )
        if rows is None:
            return
        converter = RowConverter()
        async for chunk in rows:
            yield [converter.convert(RecordedEvent, row) for row in chunk]

    async def anchored(self, stream_ids: Sequence[str]) -> dict[str, list[Anchored]]:
        """The anchored heads of these streams (the caller reads only streams it may see)."""
        rows = await self._pool.fetch(
            "SELECT stream_id, day, version, hash FROM eventstore.log_anchor_streams "
            "WHERE stream_id = ANY($1::text[]) ORDER BY stream_id, day",
            list(stream_ids),
        )
        found: dict[str, list[Anchored]] = {}
        for r in rows:
            found.setdefault(r["stream_id"], []).append(
                Anchored(r["day"], r["version"], bytes(r["hash"]))
            )
        return found

    async def anchor_days(self, after: date | None, limit: int) -> list[date]:
        rows = await self._pool.fetch(
            "SELECT day FROM eventstore.log_anchors WHERE $1::date IS NULL OR day > $1 "
            "ORDER BY day LIMIT $2",
            after,
            limit,
        )
        return [r["day"] for r in rows]

    async def anchor(self, day: date) -> DayAnchor | None:
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            row = await conn.fetchrow(
                "SELECT stream_count, root FROM eventstore.log_anchors WHERE day = $1", day
            )
            if row is None:
                return None
            heads = await conn.fetch(
                "SELECT stream_id, hash FROM eventstore.log_anchor_streams WHERE day = $1", day
            )
        return DayAnchor(
            day,
            row["stream_count"],
            bytes(row["root"]),
            [(h["stream_id"], bytes(h["hash"])) for h in heads],
        )

    async def _heads(self, where: str, *args: object) -> list[ChainHead]:
        text, values = scoped(_HEAD.replace("{where}", where), *args)
        return [
            ChainHead(
                stream_id=r["stream_id"],
                version=r["version"],
                last_hash=r["last_hash"],
                chain_version=r["chain_version"],
            )
            for r in await self._pool.fetch(text, *values)
        ]
