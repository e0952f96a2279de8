"""Recorded events (as the bus and the event store deliver them) into the shared fold.

The fold must never wedge the projector: an event type it does not know is
skipped and counted by the kernel itself, and an event whose payload the kernel
rejects (it passed the event store's validation when written, so only a schema
that moved on since can do this) is skipped and counted the same way, with a
warning. Refusing it instead would stop that fund's projection for good, since
the log never changes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC

from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_kernel import PayloadError
from fundledger_kernel.fund import FundEvent, FundState, decode_stored_event, project

log = logging.getLogger(__name__)

# Not a fund event type (no stored event can carry it: event types are upper
# snake case), so the fold's unknown-type rule skips it and counts it in
# `skipped_events`.
UNREADABLE_EVENT_TYPE = "projector:unreadable-payload"


def to_fund_event(event: RecordedEvent) -> FundEvent:
    recorded_at = event.recorded_at.ToDatetime(tzinfo=UTC)
    try:
        return decode_stored_event(event.event_type, event.data, event.version, recorded_at)
    except (PayloadError, ValueError, TypeError) as err:
        log.warning(
            "%s v%d: %s payload rejected by the fold (%s); skipped and counted",
            event.stream_id,
            event.version,
            event.event_type,
            err,
            extra={"stream_id": event.stream_id, "version": event.version},
        )
        return FundEvent(UNREADABLE_EVENT_TYPE, None, event.version, recorded_at)


def fold(state: FundState, events: Iterable[RecordedEvent]) -> FundState:
    """`state` with `events` (consecutive versions, in order) applied."""
    return project(state, (to_fund_event(e) for e in events))
