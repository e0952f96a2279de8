"""A read's queries are sized by the bytes of the rows seen, so large events never make one
query hold ~1 GB (adapters/query_rows.py)."""

from __future__ import annotations

from eventstore.adapters.query_rows import FIRST_QUERY_ROWS, QUERY_BYTES, QueryRows


def _rows(count: int, data_bytes: int) -> list[tuple[object, ...]]:
    # Only data (7) is looked at, by position as in records.COLUMNS.
    row = (0,) * 7 + ("x" * data_bytes, "{}")
    return [row] * count


def test_the_first_query_is_small_whatever_the_chunk() -> None:
    assert QueryRows(1000).rows == FIRST_QUERY_ROWS
    assert QueryRows(20).rows == 20
    assert QueryRows(0).rows == 1


def test_small_events_get_the_whole_chunk_after_the_first_query() -> None:
    size = QueryRows(1000)
    size.saw(_rows(100, 280))
    assert size.rows == 1000


def test_large_events_shrink_the_next_query_to_the_byte_budget() -> None:
    size = QueryRows(1000)
    size.saw(_rows(100, 1024 * 1024))
    assert size.rows == QUERY_BYTES // (1024 * 1024)
    assert size.rows * 1024 * 1024 <= QUERY_BYTES


def test_the_average_covers_every_row_seen_and_never_goes_below_one() -> None:
    size = QueryRows(1000)
    size.saw(_rows(1, QUERY_BYTES * 4))
    assert size.rows == 1
    size.saw([])  # an empty answer changes nothing
    assert size.rows == 1
    size.saw(_rows(99, 10))
    # (4 × QUERY_BYTES + 99 × 10) / 100 rows: still a byte budget of ~25 rows.
    assert size.rows == QUERY_BYTES // ((QUERY_BYTES * 4 + 99 * 10) // 100)
