"""GetTimeline: a fund's events in a time window, newest first, paged by version."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from snapshotter.domain.timeline import TimelineEvent
from snapshotter.service_layer.errors import fund_not_found
from snapshotter.service_layer.ports import EventLog


@dataclass(frozen=True)
class TimelinePage:
    events: list[TimelineEvent]
    # Version the next page starts at (newest first); None on the last page.
    next_version: int | None


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
    info = await events.stream_info(fund_id)
    if info is None or info.version == 0:
        raise fund_not_found(fund_id)
    # One more than the page, to learn whether another page follows.
    rows = await events.read_timeline(
        fund_id, from_version=from_version, max_recorded_at=end, max_count=size + 1
    )
    if start is not None:
        # recorded_at never decreases as the version grows, so going backwards
        # the first event before `start` ends the window.
        rows = [row for row in rows if row.event.recorded_at >= start]
    if len(rows) > size:
        return TimelinePage(rows[:size], rows[size].event.version)
    return TimelinePage(rows, None)
