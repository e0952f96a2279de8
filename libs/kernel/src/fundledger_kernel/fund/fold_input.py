"""Recorded events → fold input: the one way every reader of a fund's log feeds the fold.

The projector, the snapshotter and allocation all read a fund's events from the log (over the
bus or the event store's API) and fold them. They must agree not only on the fold but on what a
log that cannot be folded means, so the two ways a log can be unfit are decided here, once:

- a gap: the events do not continue the state's version one by one (a version missing or
  repeated, e.g. removed by retention or a read racing one). The fold itself would accept any
  order and silently produce a wrong state, so it is refused: LogGapError.
- an unreadable payload: a stored fund event whose data does not decode into its schema (the
  event store validated it on append, so only a schema that moved on or an edit of the row can
  cause it). Skipping it would serve a wrong state as a right one: UnreadableEventError.

Both are FundLogError. Services turn it into DATA_LOSS for callers and stop that fund's
consumer with an alert, never loop on it (docs/architecture.md, "Unfoldable logs").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from fundledger_kernel.errors import PayloadError
from fundledger_kernel.fund.events import FundEvent, decode_stored_event
from fundledger_kernel.fund.fold import project
from fundledger_kernel.fund.state import FundState


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One event as the log records it (the fields the fold and its readers need)."""

    stream_id: str
    version: int
    position: int
    event_id: str
    event_type: str
    data: bytes
    recorded_at: datetime
    # The tenant of the stream as the event store recorded it ("" = none); read models
    # scope their rows by it (docs/security.md, "Isolation").
    tenant: str = ""


class FundLogError(Exception):
    """A fund's log that cannot be folded into an exact state."""

    def __init__(self, fund_id: str, version: int, detail: str) -> None:
        super().__init__(fund_id, version, detail)
        self.fund_id = fund_id
        self.version = version
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.fund_id} v{self.version}: {self.detail}"


class LogGapError(FundLogError):
    """The events do not continue the state's version one by one."""


class UnreadableEventError(FundLogError):
    """A stored fund event's payload does not decode into its schema."""

    def __init__(self, fund_id: str, version: int, event_type: str, detail: str) -> None:
        super().__init__(fund_id, version, f"{event_type} payload unreadable: {detail}")
        self.event_type = event_type


def fold_inputs(after_version: int, events: Iterable[LoggedEvent]) -> list[FundEvent]:
    """`events`, which must continue version `after_version` one by one, decoded for the fold.

    Raises LogGapError or UnreadableEventError (both FundLogError).
    """
    decoded: list[FundEvent] = []
    expected = after_version + 1
    for event in events:
        if event.version != expected:
            raise LogGapError(
                event.stream_id,
                expected,
                f"expected version {expected}, the log returned {event.version}",
            )
        try:
            decoded.append(
                decode_stored_event(event.event_type, event.data, event.version, event.recorded_at)
            )
        except (PayloadError, ValueError, TypeError) as err:
            raise UnreadableEventError(
                event.stream_id, event.version, event.event_type, str(err)
            ) from None
        expected += 1
    return decoded


def fold_logged(state: FundState, events: Iterable[LoggedEvent]) -> FundState:
    """`state` with `events` (continuing its version) folded in; FundLogError if they cannot be."""
    return project(state, fold_inputs(state.version, events))
