"""How many rows one query of a read may fetch: bounded by the rows' bytes, not only by count.

A page sent to a client is bounded to ~1 MiB (entrypoints/mappers.py), but the rows behind it
are fetched first, a query's worth at a time, and held until sent. Events may be up to
`max_event_bytes` (1 MiB by default) each, so a query of 1,000 rows could hold ~1 GB for one
read. The first query of a read therefore fetches at most FIRST_QUERY_ROWS rows (≤ ~100 MiB
even if every event is at the limit); every later one as many as QUERY_BYTES of event data
allows at the average size seen so far, never more than the caller's chunk. A read of small
events pays one extra query beyond the first hundred rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter

import asyncpg

FIRST_QUERY_ROWS = 100
QUERY_BYTES = 8 * 1024 * 1024
# The data column's position in records.COLUMNS (unit tests pin the order); metadata is small
# (bounded by the append's limits) and left out of the count.
_data = itemgetter(7)


class QueryRows:
    __slots__ = ("_chunk", "_rows", "_seen_bytes", "_seen_rows")

    def __init__(self, chunk: int) -> None:
        self._chunk = max(1, chunk)
        self._rows = min(self._chunk, FIRST_QUERY_ROWS)
        self._seen_rows = 0
        self._seen_bytes = 0

    @property
    def rows(self) -> int:
        """The next query's row limit."""
        return self._rows

    def saw(self, rows: Sequence[asyncpg.Record]) -> None:
        """Sizes the next query by the rows this one returned."""
        if not rows:
            return
        self._seen_rows += len(rows)
        self._seen_bytes += sum(map(len, map(_data, rows)))
        average = max(1, self._seen_bytes // self._seen_rows)
        self._rows = max(1, min(self._chunk, QUERY_BYTES // average))
