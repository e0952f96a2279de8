"""GetTimeline: a fund's events in a time window, newest first, on the recorded or the
effective clock, paged by a key of that clock."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from snapshotter.domain.timeline import EffectiveKey, TimelineEvent, effective_page
from snapshotter.service_layer.errors import fund_not_found
from snapshotter.service_layer.ports import EventLog


class Order(enum.Enum):
    RECORDED = "RECORDED"
    EFFECTIVE = "EFFECTIVE"


@dataclass(frozen=True)
class TimelinePage:
    events: list[TimelineEvent]
    # RECORDED: the version the next page starts at; None on the last page.
    next_version: int | None = None
    # EFFECTIVE: the (effective_at, version) key the next page starts at; None on the last.
    next_key: EffectiveKey | None = None


async def timeline_page(
    events: EventLog,
    fund_id: str,
    start: datetime | None,
    end: datetime | None,
    size: int,
    from_version: int | None,
) -> TimelinePage:
    """One page of at most `size` events with start <= recorded_at <= end.

    Paging by version, not by offset: events appended while a caller pages
    land above the first page's start and cannot shift later pages.
    """
    await _require(events, fund_id)
    # One more than the page, to learn whether another page follows.
    rows = await events.read_timeline(
        fund_id, from_version=from_version, max_recorded_at=end, max_count=size + 1
    )
    if start is not None:
        # recorded_at never decreases as the version grows, so going backwards
        # the first event before `start` ends the window.
        rows = [row for row in rows if row.event.recorded_at >= start]
    if len(rows) > size:
        return TimelinePage(rows[:size], next_version=rows[size].event.version)
    return TimelinePage(rows)


async def effective_timeline_page(
    events: EventLog,
    fund_id: str,
    start: datetime | None,
    end: datetime | None,
    size: int,
    from_key: EffectiveKey | None,
) -> TimelinePage:
    """One page of at most `size` events with start <= effective_at <= end, newest first by
    (effective_at, version).

    The event store reads by version and recorded time only, and a backdated event may have
    any version, so the fund's whole log is read and ordered here (domain/timeline.py): a cost
    in the fund's length per page, fine for funds of thousands of events.
    """
    await _require(events, fund_id)
    rows = await events.read_timeline(fund_id, from_version=None, max_recorded_at=None, max_count=0)
    page, next_key = effective_page(rows, start, end, from_key, size)
    return TimelinePage(page, next_key=next_key)


async def _require(events: EventLog, fund_id: str) -> None:
    info = await events.stream_info(fund_id)
    if info is None or info.version == 0:
        raise fund_not_found(fund_id)
