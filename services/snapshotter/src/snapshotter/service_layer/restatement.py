"""GetRestatement: a fund as of business date E, as known at two times, and why they differ.

This is what an auditor asks after a late write-down: "what did we report for 30 September,
what do we know now, and which events changed it?". Both states are two-axis answers
(history.select, snapshots included); the explaining events are the ones the later question
selects and the earlier one does not: recorded after the earlier known time, at or before the
later one, effective at or before E.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fundledger_kernel.fund import FundState
from fundledger_kernel.fund.fold_input import FundLogError
from fundledger_platform.recorded import fund_log_data_loss

from snapshotter.domain.axes import Axes
from snapshotter.domain.timeline import TimelineEvent
from snapshotter.service_layer.errors import fund_not_found
from snapshotter.service_layer.history import History
from snapshotter.service_layer.ports import EventLog

# Events read per page while walking back from the later known time to the earlier one.
PAGE = 500


@dataclass(frozen=True)
class Restatement:
    before: FundState
    after: FundState
    # Version order.
    events: list[TimelineEvent]
    effective_at: datetime
    known_at_before: datetime
    known_at_after: datetime


async def restatement(
    history: History,
    events: EventLog,
    fund_id: str,
    effective_at: datetime,
    known_at_before: datetime,
    known_at_after: datetime | None,
    now: datetime,
) -> Restatement:
    """`known_at_after` None: everything the log holds now (reported as `now`, or the newest
    recorded time read if this host's clock is behind the event store's). The caller has
    checked that the known times are in order. A state may be the empty one (nothing effective
    by E was known yet); a fund the log never heard of is NOT_FOUND; an unfoldable log
    DATA_LOSS."""
    info = await events.stream_info(fund_id)
    if info is None or info.version == 0:
        raise fund_not_found(fund_id)
    try:
        before = await history.select(
            fund_id, Axes(effective_at=effective_at, known_at=known_at_before)
        )
        after = await history.select(
            fund_id, Axes(effective_at=effective_at, known_at=known_at_after)
        )
    except FundLogError as err:
        raise fund_log_data_loss(err) from None
    if known_at_after is None:
        read = after.read_through
        known_at_after = max(now, read) if read is not None else now
    explaining = await _recorded_between(events, fund_id, known_at_before, known_at_after)
    return Restatement(
        before.state,
        after.state,
        [row for row in explaining if row.event.business_time <= effective_at],
        effective_at,
        known_at_before,
        known_at_after,
    )


async def _recorded_between(
    events: EventLog, fund_id: str, after: datetime, through: datetime
) -> list[TimelineEvent]:
    """The events recorded in (after, through], in version order: read backwards from
    `through` until the first one recorded at or before `after` (recorded_at never decreases
    as the version grows, so every older one is too)."""
    found: list[TimelineEvent] = []
    from_version: int | None = None
    while True:
        rows = await events.read_timeline(
            fund_id, from_version=from_version, max_count=PAGE, max_recorded_at=through
        )
        for row in rows:
            if row.event.recorded_at <= after:
                return found[::-1]
            found.append(row)
        if len(rows) < PAGE or rows[-1].event.version <= 1:
            return found[::-1]
        from_version = rows[-1].event.version - 1
