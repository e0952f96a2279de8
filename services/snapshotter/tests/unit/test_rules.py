"""Pure rules: count targets, the daily instant, fund ids (no servers)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone

import pytest
from fundledger_platform.errors import InvalidArgument
from fundledger_platform.stream_ids import check_fund_id
from hypothesis import given
from hypothesis import strategies as st
from snapshotter.domain.triggers import count_targets, next_daily


def test_count_targets_by_version_range() -> None:
    assert count_targets(0, 49, 50) == []
    assert count_targets(49, 50, 50) == [50]
    assert count_targets(50, 50, 50) == []  # redelivery
    assert count_targets(44, 56, 50) == [50]  # a gap across 50
    assert count_targets(0, 160, 50) == [50, 100, 150]
    assert count_targets(120, 110, 50) == []  # an older event after a newer one


@given(st.integers(0, 500), st.lists(st.integers(1, 500), max_size=30), st.integers(1, 60))
def test_count_targets_over_any_delivery_order_hit_each_multiple_once(
    start: int, deliveries: list[int], every: int
) -> None:
    """However events are redelivered, reordered or skipped, advancing the
    seen version through them takes every multiple up to the highest exactly once."""
    seen = start
    taken: list[int] = []
    for version in deliveries:
        taken += count_targets(seen, version, every)
        seen = max(seen, version)
    expected = [v for v in range(every, seen + 1, every) if v > start]
    assert taken == expected


def test_next_daily_is_strictly_after() -> None:
    midnight = time(0, 0)
    day = datetime(2026, 3, 1, tzinfo=UTC)
    assert next_daily(day - timedelta(seconds=1), midnight) == day
    assert next_daily(day, midnight) == day + timedelta(days=1)
    assert next_daily(day + timedelta(hours=5), time(6, 30)) == day + timedelta(hours=6.5)
    # Any zone in, UTC out: 01:00 at +02:00 is 23:00 UTC the day before.
    plus_two = datetime(2026, 3, 1, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    assert next_daily(plus_two, midnight) == day
    with pytest.raises(ValueError, match="timezone"):
        next_daily(datetime(2026, 3, 1), midnight)


def test_fund_ids() -> None:
    assert check_fund_id("fund-3f2c") == "fund-3f2c"
    for bad in ("", "fund", "fund-", "funds-1", "fund-a/b", "fund-" + "x" * 300):
        with pytest.raises(InvalidArgument):
            check_fund_id(bad)
