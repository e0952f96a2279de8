"""What verifying the hash chain reads (service_layer/verify.py): stream heads with their last
hash, the streams in id order, and a stream's events as readers get them. Every query narrowed
to the caller's tenant (fundledger_platform.tenant_sql), as every read of the log is."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_platform.tenant_sql import scoped

from eventstore.adapters.reader import Reader
from eventstore.adapters.records import RowConverter
from eventstore.service_layer.verify import ChainHead

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
