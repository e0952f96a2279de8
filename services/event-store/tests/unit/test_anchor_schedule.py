"""When the daily anchor is due (adapters/anchors.py), its setting, and its messages."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from eventstore.adapters.anchors import (
    PART,
    due_day,
    messages,
    parse_anchor_time,
    seconds_until_next,
)


def test_due_day_is_yesterday_once_the_time_passed() -> None:
    at = time(0, 5)
    assert due_day(datetime(2026, 12, 7, 0, 5, tzinfo=UTC), at) == date(2026, 12, 6)
    assert due_day(datetime(2026, 12, 7, 0, 4, 59, tzinfo=UTC), at) == date(2026, 12, 5)
    assert due_day(datetime(2026, 12, 7, 23, 0, tzinfo=UTC), at) == date(2026, 12, 6)
    # UTC whatever the clock's zone.
    plus_two = timezone(timedelta(hours=2))
    assert due_day(datetime(2026, 12, 7, 1, 0, tzinfo=plus_two), at) == date(2026, 12, 5)


def test_seconds_until_next() -> None:
    at = time(0, 5)
    assert seconds_until_next(datetime(2026, 12, 7, 0, 0, tzinfo=UTC), at) == 300
    assert seconds_until_next(datetime(2026, 12, 7, 0, 5, tzinfo=UTC), at) == 86400


def test_the_setting() -> None:
    assert parse_anchor_time("00:05") == time(0, 5)
    assert parse_anchor_time(" 23:59 ") == time(23, 59)
    for bad in ("24:00", "5", "noon", ""):
        with pytest.raises(ValueError, match="FUNDLEDGER_EVENTSTORE_ANCHOR_TIME"):
            parse_anchor_time(bad)


def test_messages_in_parts() -> None:
    anchor = {
        "day": date(2026, 12, 6),
        "taken_at": datetime(2026, 12, 7, 0, 5, tzinfo=UTC),
        "root": b"\x01" * 32,
        "stream_count": PART + 1,
    }
    streams = [{"stream_id": f"s{n}", "version": n, "hash": b"\x02" * 32} for n in range(PART + 1)]
    bodies = [json.loads(b) for b in messages(anchor, streams)]  # type: ignore[arg-type]
    assert [(b["part"], b["parts"], len(b["streams"])) for b in bodies] == [(1, 2, PART), (2, 2, 1)]
    assert bodies[0]["root"] == "01" * 32
    assert bodies[1]["day"] == "2026-12-06"
    empty = [json.loads(b) for b in messages(anchor, [])]  # type: ignore[arg-type]
    assert [(b["part"], b["parts"], b["streams"]) for b in empty] == [(1, 1, [])]
