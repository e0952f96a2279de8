"""The bus consumer's handler: each fund event moves the fund's progress (and count trigger)."""

from __future__ import annotations

from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_platform.consumer import Handler

from snapshotter.domain.funds import FUND_CATEGORY
from snapshotter.domain.model import Progress
from snapshotter.domain.replay import recorded_at
from snapshotter.service_layer.tracker import Tracker


def fund_event_handler(tracker: Tracker) -> Handler:
    async def handle(event: RecordedEvent) -> None:
        # The subject filter already selects the fund category; checked again
        # so a misconfigured filter cannot feed other streams to the fold.
        if event.category != FUND_CATEGORY:
            return
        await tracker.advance(
            Progress(event.stream_id, event.version, event.position, recorded_at(event))
        )

    return handle
