"""The bus consumer's handler: each fund event moves the fund's progress (and count trigger)."""

from __future__ import annotations

from collections.abc import Sequence

from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_kernel.streams import FUND_CATEGORY
from fundledger_platform.consumer import BatchHandler
from fundledger_platform.recorded import logged_event

from snapshotter.domain.model import Progress
from snapshotter.service_layer.tracker import Tracker


def fund_batch_handler(tracker: Tracker) -> BatchHandler:
    """One stream's events of one fetch: one advance, to the newest of them.

    The same as advancing event by event: the count targets between the stored
    progress and the newest version are all taken, and older events in the
    batch would only have moved the progress to a version the newest passes.

    A count snapshot over a log that cannot be folded raises the kernel's
    FundLogError, left to propagate: the platform's BusConsumer halts that fund
    (alert, no redelivery loop) while the other funds keep flowing.
    """

    async def handle(events: Sequence[RecordedEvent]) -> None:
        fund_events = [e for e in events if e.category == FUND_CATEGORY]
        if not fund_events:
            return
        newest = max(fund_events, key=lambda e: e.version)
        await tracker.advance(Progress.of(logged_event(newest)))

    return handle
