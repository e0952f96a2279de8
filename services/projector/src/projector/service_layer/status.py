"""How far the projection is behind the log.

The fund events after the checkpoint are read (a bounded scan: at most
`max_scan` events) and compared with the stored versions. "Applied" is judged
after the events were read, and stored versions only grow, so an event counted
as applied really is; one applied during the scan may still be counted as lag,
which the next call corrects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from projector.metrics import LAG_EVENTS, LAG_SECONDS
from projector.service_layer.ports import EventLog, ProjectionRows, RebuildLock


@dataclass(frozen=True)
class ProjectionStatus:
    projected_position: int
    log_head_position: int
    lag_events: int
    lag_seconds: float
    fund_count: int
    rebuilding: bool


async def projection_status(
    rows: ProjectionRows, source: EventLog, rebuilds: RebuildLock, max_scan: int
) -> ProjectionStatus:
    """The status, also exported as the lag gauges."""
    head = await source.head_position()
    checkpoint = await rows.checkpoint()
    events = await source.read_funds(from_position=checkpoint + 1, max_count=max_scan)
    stored = await rows.versions({e.stream_id for e in events})
    unapplied = [e for e in events if stored.get(e.stream_id, (0, 0))[0] < e.version]
    if unapplied:
        # Everything below the first unapplied event is applied.
        projected = unapplied[0].position - 1
        lag_seconds = max(0.0, (datetime.now(UTC) - unapplied[0].recorded_at).total_seconds())
    else:
        projected = events[-1].position if events else checkpoint
        lag_seconds = 0.0
    LAG_EVENTS.set(len(unapplied))
    LAG_SECONDS.set(lag_seconds)
    return ProjectionStatus(
        projected_position=projected,
        log_head_position=head,
        lag_events=len(unapplied),
        lag_seconds=lag_seconds,
        fund_count=await rows.count(),
        rebuilding=await rebuilds.running(),
    )
