"""What verifying the hash chain reads (service_layer/verify.py): stream heads with their last
hash, the streams in id order, and a stream's events as readers get them. Every query narrowed
to the caller's tenant (fundledger_platform.tenant_sql), as every read of the log is."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import date

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


class ChainReader:
    def __init__(self, pool: asyncpg.Pool, reader: Reader) -> None:
        self._pool = pool
        self._reader = reader

    async def head(self, stream_id: str) -> ChainHead | None:
        heads = await self._heads("stream_id = $1", stream_id, 1)
        return heads[0] if heads else None

    async def heads(self, start: str, limit: int, *, inclusive: bool) -> list[ChainHead]:
        """The streams from ``start`` (after it unless ``inclusive``) in id order, at most
        ``limit``."""
        return await self._heads(f"stream_id {'>=' if inclusive else '>'} $1", start, limit)

    async def count(self, from_stream_id: str) -> int:
        text, values = scoped(
            "SELECT count(*) FROM eventstore.streams WHERE stream_id >= $1 AND {tenant}",
            from_stream_id,
        )
        return int(await self._pool.fetchval(text, *values))

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

    async def _heads(self, where: str, stream_id: str, limit: int) -> list[ChainHead]:
        text, values = scoped(_HEAD.replace("{where}", where), stream_id, limit)
        return [
            ChainHead(
                stream_id=r["stream_id"],
                version=r["version"],
                last_hash=r["last_hash"],
                chain_version=r["chain_version"],
            )
            for r in await self._pool.fetch(text, *values)
        ]
