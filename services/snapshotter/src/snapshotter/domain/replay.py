"""Folding log events over a starting state with the shared fund fold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_kernel.fund import FundEvent, FundState, decode_stored_event, project

from snapshotter.domain.model import Snapshot


class LogGapError(RuntimeError):
    """The log returned events that do not continue the state's version one by one."""


@dataclass(frozen=True)
class Replay:
    """A state and how it was computed."""

    state: FundState
    # The snapshot the fold started from; None when it started from the empty state.
    base: Snapshot | None
    events_replayed: int
    # Position of the event at state.version (0 before any event).
    position: int


def recorded_at(event: RecordedEvent) -> datetime:
    return event.recorded_at.ToDatetime(tzinfo=UTC)


def to_fund_event(event: RecordedEvent) -> FundEvent:
    # The event store validated the payload on append: the trusted decode (same result).
    return decode_stored_event(event.event_type, event.data, event.version, recorded_at(event))


def fold_onto(
    state: FundState, base: Snapshot | None, position: int, events: Sequence[RecordedEvent]
) -> Replay:
    """`events` folded over `state`; LogGapError unless they continue it version by version.

    The check matters because the fold itself would accept any order: a
    missing or repeated event would silently produce a wrong state.
    """
    for offset, event in enumerate(events, start=1):
        if event.version != state.version + offset:
            raise LogGapError(
                f"{event.stream_id}: expected version {state.version + offset}, "
                f"the log returned {event.version}"
            )
    folded = project(state, (to_fund_event(e) for e in events))
    last_position = events[-1].position if events else position
    return Replay(folded, base, len(events), last_position)
