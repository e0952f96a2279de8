"""ListSnapshots: a fund's stored snapshots, newest first, paged by (version, fold version)."""

from __future__ import annotations

from dataclasses import dataclass

from snapshotter.domain.model import Snapshot
from snapshotter.service_layer.errors import fund_not_found
from snapshotter.service_layer.ports import EventLog, SnapshotStore


@dataclass(frozen=True)
class SnapshotPage:
    snapshots: list[Snapshot]
    # The last snapshot of this page when another page follows; None on the last page.
    continues_after: Snapshot | None


async def snapshot_page(
    snapshots: SnapshotStore,
    events: EventLog,
    fund_id: str,
    before: tuple[int, int] | None,
    size: int,
) -> SnapshotPage:
    """At most `size` snapshots below `before`, older fold versions' too (they are stored)."""
    # One more than the page, to learn whether another page follows.
    rows = await snapshots.page(fund_id, before, size + 1)
    if not rows and before is None and await events.stream_info(fund_id) is None:
        # An empty first page is normal for a young fund; for a fund the log
        # has never heard of it is NOT_FOUND, as for the other RPCs.
        raise fund_not_found(fund_id)
    if len(rows) > size:
        return SnapshotPage(rows[:size], rows[size - 1])
    return SnapshotPage(rows, None)
