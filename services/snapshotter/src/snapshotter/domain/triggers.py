"""When to snapshot: pure rules, decided by versions and instants, never by counting calls."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta


def count_targets(seen_version: int, new_version: int, every: int) -> list[int]:
    """The multiples of `every` in (seen_version, new_version], ascending.

    Deciding by the version range rather than "is this event's version a
    multiple" is what keeps the count trigger exact under at-least-once
    delivery: a redelivered event (new <= seen) yields nothing, so nothing is
    doubled, and an event that arrives after a gap (seen 44, new 56) still
    yields 50, so nothing is missed.
    """
    if every <= 0:
        raise ValueError("every must be positive")
    first = (seen_version // every + 1) * every
    return list(range(first, new_version + 1, every))


def next_daily(after: datetime, at: time) -> datetime:
    """The first instant strictly after `after` whose UTC time of day is `at`."""
    if after.utcoffset() is None:
        raise ValueError("after must be timezone-aware")
    now = after.astimezone(UTC)
    due = datetime.combine(now.date(), at, tzinfo=UTC)
    return due if due > now else due + timedelta(days=1)
