"""Read queries of the log. Rows go straight to the gRPC mappers (no copies), a query's rows
at a time: the servicer fills its pages from each list without an await per event.

Stream reads carry a time bound taken from the stream head (first/last
recorded_at), so PostgreSQL prunes every day-partition the stream never wrote
to; without it a read would probe each partition's index.

Every query of the log goes through ``_fetch``/``_fetchrow``/``_fetchval``, which add the
caller's tenant predicate (fundledger_platform.tenant_sql): a caller bound to a tenant never reads
another tenant's stream head, event or count, whichever RPC asks. Only the log's head (a
position, no tenant's data) is read without it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from fundledger_platform.tenant_sql import scoped

from eventstore.adapters.conn import Conn
from eventstore.adapters.query_rows import QueryRows
from eventstore.adapters.records import COLUMNS as _COLUMNS

# Rows per query when the caller names no other number (one event per message).
PAGE = 500


@dataclass(frozen=True)
class StreamHead:
    stream_id: str
    category: str
    version: int
    first_recorded_at: datetime | None
    last_recorded_at: datetime | None
    tenant: str | None = None


class Reader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # The only ways to query the log: each adds the caller's tenant predicate. ``on``: a
    # connection already taken from the pool (else the pool lends one for the query).
    async def _fetch(
        self, query: str, *args: object, on: Conn | None = None
    ) -> list[asyncpg.Record]:
        text, values = scoped(query, *args)
        return list(await (on or self._pool).fetch(text, *values))

    async def _fetchrow(
        self, query: str, *args: object, on: Conn | None = None
    ) -> asyncpg.Record | None:
        text, values = scoped(query, *args)
        return await (on or self._pool).fetchrow(text, *values)

    async def _fetchval(self, query: str, *args: object) -> object:
        text, values = scoped(query, *args)
        return await self._pool.fetchval(text, *values)

    async def head(self, stream_id: str, on: Conn | None = None) -> StreamHead | None:
        """The stream's head; None when it does not exist or is not the caller's tenant's."""
        row = await self._fetchrow(
            "SELECT stream_id, category, version, first_recorded_at, last_recorded_at, tenant "
            "FROM eventstore.streams WHERE stream_id = $1 AND {tenant}",
            stream_id,
            on=on,
        )
        return None if row is None else StreamHead(**dict(row))

    async def count_stream(self, head: StreamHead) -> int:
        if head.first_recorded_at is None or head.last_recorded_at is None:
            return 0
        count = await self._fetchval(
            "SELECT count(*) FROM eventstore.events WHERE stream_id = $1 "
            "AND recorded_at BETWEEN $2 AND $3 AND {tenant}",
            head.stream_id,
            head.first_recorded_at,
            head.last_recorded_at,
        )
        return int(str(count))

    async def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None,
        backwards: bool,
        max_count: int,
        max_recorded_at: datetime | None,
        chunk: int = PAGE,
    ) -> AsyncIterator[list[asyncpg.Record]] | None:
        """None when the stream does not exist (or is another tenant's); else its rows in read
        order, at most ``chunk`` per query, fewer when they are large (query_rows.py); never an
        empty list.

        The head and the first rows are read on one pooled connection: most reads need no
        second query, and each loan from the pool costs ~40 µs of CPU besides asyncpg's reset
        query on release (another round trip, ~60 µs more)."""
        async with self._pool.acquire() as conn:
            head = await self.head(stream_id, on=conn)
            if head is None:
                return None
            read = _StreamRead(head, from_version, backwards, max_count, max_recorded_at, chunk)
            first = await read.next(self, conn) if read.more else []
            if read.more and read.next_rows > len(first):
                # The first query only measured the rows (query_rows.py): small ones go on in
                # a full query on the same loan.
                first += await read.next(self, conn)
        return read.chunks(self, first)

    async def read_all(
        self,
        *,
        from_position: int,
        max_count: int,
        categories: Sequence[str],
        event_types: Sequence[str],
        chunk: int = PAGE,
    ) -> AsyncIterator[list[asyncpg.Record]]:
        """The log's rows in position order, at most ``chunk`` per query, fewer when they are
        large (query_rows.py); never an empty list."""
        cursor = max(from_position, 1)
        remaining = max_count if max_count > 0 else None
        size = QueryRows(chunk)
        while remaining is None or remaining > 0:
            limit = size.rows if remaining is None else min(size.rows, remaining)
            rows = await self.read_page(cursor, limit, categories, event_types)
            size.saw(rows)
            if rows:
                yield rows
            if len(rows) < limit:
                return
            if remaining is not None:
                remaining -= len(rows)
            cursor = rows[-1]["position"] + 1

    async def read_page(
        self,
        from_position: int,
        limit: int,
        categories: Sequence[str],
        event_types: Sequence[str],
        to_position: int | None = None,
        since: datetime | None = None,
    ) -> list[asyncpg.Record]:
        """Events at or after a position, in position order. Safe to tail: the
        log commits in position order, so nothing can appear below a position
        already read (see adapters/group_write.py)."""
        return await self._fetch(
            f"SELECT {_COLUMNS} FROM eventstore.events WHERE position >= $1 "
            "AND (cardinality($3::text[]) = 0 OR category = ANY($3::text[])) "
            "AND (cardinality($4::text[]) = 0 OR event_type = ANY($4::text[])) "
            "AND ($5::bigint IS NULL OR position <= $5) "
            "AND ($6::timestamptz IS NULL OR recorded_at >= $6) AND {tenant} "
            "ORDER BY position LIMIT $2",
            from_position,
            limit,
            list(categories),
            list(event_types),
            to_position,
            since,
        )

    async def log_head(self) -> tuple[int, datetime]:
        """The last committed position and its recorded_at: every later event is
        recorded at or after that time (the bound that prunes old partitions). A position of
        the whole log, no tenant's data: read without the tenant predicate."""
        row = await self._pool.fetchrow(
            "SELECT last_position, last_recorded_at FROM eventstore.log_head"
        )
        assert row is not None
        return int(row["last_position"]), row["last_recorded_at"]

    async def head_position(self) -> int:
        return int(await self._pool.fetchval("SELECT last_position FROM eventstore.log_head"))

    async def user_events(
        self,
        user_id: str,
        start: datetime | None,
        end: datetime | None,
        event_types: Sequence[str],
        before_position: int | None,
        limit: int,
    ) -> list[asyncpg.Record]:
        return await self._fetch(
            f"SELECT {_COLUMNS} FROM eventstore.events WHERE user_id = $1 "
            "AND ($2::timestamptz IS NULL OR recorded_at >= $2) "
            "AND ($3::timestamptz IS NULL OR recorded_at < $3) "
            "AND (cardinality($4::text[]) = 0 OR event_type = ANY($4::text[])) "
            "AND ($5::bigint IS NULL OR position < $5) AND {tenant} "
            "ORDER BY position DESC LIMIT $6",
            user_id,
            start,
            end,
            list(event_types),
            before_position,
            limit,
        )

    async def correlated(
        self, correlation_id: str, after_position: int, limit: int
    ) -> list[asyncpg.Record]:
        return await self._fetch(
            f"SELECT {_COLUMNS} FROM eventstore.events WHERE correlation_id = $1 "
            "AND position > $2 AND {tenant} ORDER BY position LIMIT $3",
            correlation_id,
            after_position,
            limit,
        )

    async def count(
        self,
        user_id: str | None,
        event_types: Sequence[str],
        category: str | None,
        start: datetime | None,
        end: datetime | None,
    ) -> int:
        count = await self._fetchval(
            "SELECT count(*) FROM eventstore.events WHERE "
            "($1::text IS NULL OR user_id = $1) "
            "AND (cardinality($2::text[]) = 0 OR event_type = ANY($2::text[])) "
            "AND ($3::text IS NULL OR category = $3) "
            "AND ($4::timestamptz IS NULL OR recorded_at >= $4) "
            "AND ($5::timestamptz IS NULL OR recorded_at < $5) AND {tenant}",
            user_id,
            list(event_types),
            category,
            start,
            end,
        )
        return int(str(count))

    async def daily_counts(
        self,
        user_id: str | None,
        event_types: Sequence[str],
        start: datetime | None,
        end: datetime | None,
    ) -> list[asyncpg.Record]:
        # Summed over tenants: a caller not bound to one sees one row per day, user and type.
        return await self._fetch(
            "SELECT day, user_id, event_type, sum(count)::bigint AS count "
            "FROM eventstore.daily_counts WHERE "
            "($1::text IS NULL OR user_id = $1) "
            "AND (cardinality($2::text[]) = 0 OR event_type = ANY($2::text[])) "
            "AND ($3::timestamptz IS NULL OR day >= ($3 AT TIME ZONE 'UTC')::date) "
            "AND ($4::timestamptz IS NULL OR day <= ($4 AT TIME ZONE 'UTC')::date) AND {tenant} "
            "GROUP BY day, user_id, event_type ORDER BY day, user_id, event_type",
            user_id,
            list(event_types),
            start,
            end,
        )


class _StreamRead:
    """One ReadStream's queries: where the next one starts and how many rows are left.

    The time bound comes from the stream head (first/last recorded_at), so PostgreSQL prunes
    every day-partition the stream never wrote to."""

    def __init__(
        self,
        head: StreamHead,
        from_version: int | None,
        backwards: bool,
        max_count: int,
        max_recorded_at: datetime | None,
        chunk: int,
    ) -> None:
        self._head = head
        self._backwards = backwards
        self._size = QueryRows(chunk)
        self._remaining = max_count if max_count > 0 else None
        self._upper = head.last_recorded_at
        if self._upper is not None and max_recorded_at is not None:
            self._upper = min(self._upper, max_recorded_at)
        order, compare = ("DESC", "<=") if backwards else ("", ">=")
        self._query = (
            f"SELECT {_COLUMNS} FROM eventstore.events WHERE stream_id = $1 "
            f"AND version {compare} $2 AND recorded_at BETWEEN $3 AND $4 AND {{tenant}} "
            f"ORDER BY version {order} LIMIT $5"
        )
        if from_version is not None:
            self._cursor = from_version
        else:
            self._cursor = head.version if backwards else 1
        # An empty stream (every event dropped by retention) has no time bounds: nothing to read.
        self.more = head.first_recorded_at is not None and self._upper is not None

    @property
    def next_rows(self) -> int:
        """The next query's row limit (before max_count)."""
        return self._size.rows

    async def next(self, reader: Reader, on: Conn | None = None) -> list[asyncpg.Record]:
        """The next rows (``on``: a connection already held); sets ``more``."""
        rows_now = self._size.rows
        limit = rows_now if self._remaining is None else min(rows_now, self._remaining)
        rows = await reader._fetch(
            self._query,
            self._head.stream_id,
            self._cursor,
            self._head.first_recorded_at,
            self._upper,
            limit,
            on=on,
        )
        self._size.saw(rows)
        if self._remaining is not None:
            self._remaining -= len(rows)
        self.more = len(rows) == limit and self._remaining != 0
        if rows:
            self._cursor = rows[-1]["version"] + (-1 if self._backwards else 1)
        return rows

    async def chunks(
        self, reader: Reader, first: list[asyncpg.Record]
    ) -> AsyncIterator[list[asyncpg.Record]]:
        if first:
            yield first
        while self.more:
            rows = await self.next(reader)
            if rows:
                yield rows
