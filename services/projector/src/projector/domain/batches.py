"""A page of the log (many funds, position order) as one batch per fund."""

from __future__ import annotations

from collections.abc import Iterable

from fundledger_kernel.fund.fold_input import LoggedEvent
from fundledger_kernel.streams import is_fund_id


def by_fund(events: Iterable[LoggedEvent]) -> dict[str, list[LoggedEvent]]:
    """Each fund's events in the order given; streams that are not funds are left out
    (the log is read by category, so only a malformed id could get here)."""
    groups: dict[str, list[LoggedEvent]] = {}
    for event in events:
        if is_fund_id(event.stream_id):
            groups.setdefault(event.stream_id, []).append(event)
    return groups
