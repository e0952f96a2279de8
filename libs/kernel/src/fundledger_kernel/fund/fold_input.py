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

Business time adds a third case, which is not an error of the log: events fold in
(effective_at, version) order, so a new event effective *before* what a state already holds
(a backdated valuation recorded after a later-effective one) cannot be folded on top of that
state. `fold_logged` raises BackdatedEventError and the caller refolds from a point at or
before the event's effective time (or from scratch, which never raises it). See
docs/architecture.md, "Business time".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from fundledger_kernel.errors import PayloadError
from fundledger_kernel.fund.events import FundEvent, decode_stored_event
from fundledger_kernel.fund.fold import fold_key, project
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
    # The payload's schema version as appended (0 is read as 1); decoding upcasts it.
    schema_version: int = 1
    # Business time; None is read as recorded_at (events from before business time existed).
    effective_at: datetime | None = None

    @property
    def business_time(self) -> datetime:
        """effective_at, or recorded_at for an event from before business time."""
        return self.recorded_at if self.effective_at is None else self.effective_at


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


class BackdatedEventError(Exception):
    """New events sort before what the state already holds: refold from an earlier point.

    Not a FundLogError: the log is fine, the starting state is just too late for it.
    `effective_at` is the earliest effective time among the offending events; a state whose
    last_effective_at is at or before it (or an empty one) is a valid starting point.
    """

    def __init__(self, fund_id: str, version: int, effective_at: datetime) -> None:
        super().__init__(fund_id, version, effective_at)
        self.fund_id = fund_id
        self.version = version
        self.effective_at = effective_at

    def __str__(self) -> str:
        return (
            f"{self.fund_id} v{self.version}: effective {self.effective_at.isoformat()}, before"
            " the state it would be folded on"
        )


def fold_inputs(after_version: int, events: Iterable[LoggedEvent]) -> list[FundEvent]:
    """`events`, which must continue version `after_version` one by one, decoded for the fold,
    in the order given (version order; sort by fold_key before folding).

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
                decode_stored_event(
                    event.event_type,
                    event.data,
                    event.version,
                    event.recorded_at,
                    schema_version=event.schema_version,
                    effective_at=event.effective_at,
                )
            )
        except (PayloadError, ValueError, TypeError) as err:
            raise UnreadableEventError(
                event.stream_id, event.version, event.event_type, str(err)
            ) from None
        expected += 1
    return decoded


def fold_logged(state: FundState, events: Iterable[LoggedEvent]) -> FundState:
    """`state` (a complete prefix of its stream) with `events` (continuing its version) folded
    in, in fold order: the same state as a fold from scratch of every event up to the last.

    Raises FundLogError if they cannot be folded, BackdatedEventError if one of them is
    effective before the state's last_effective_at (never for an empty state).
    """
    decoded = fold_inputs(state.version, events)
    _check_not_backdated(state, decoded)
    decoded.sort(key=fold_key)
    return project(state, decoded)


def fold_selected(
    state: FundState,
    events: Iterable[LoggedEvent],
    *,
    effective_at: datetime | None = None,
    known_at: datetime | None = None,
    at_version: int | None = None,
) -> FundState:
    """The two-axis fold: `state` (a complete prefix within the bounds) with those of `events`
    (continuing its version, gap-checked as a whole) that are at or before `at_version`,
    recorded at or before `known_at` and effective at or before `effective_at` (None = no
    bound), folded in fold order.

    Raises FundLogError as fold_logged; BackdatedEventError if a selected event sorts before
    the state (the state cannot start this answer); ValueError if the state itself holds an
    event outside the bounds. A result with an effective bound leaves out later-effective
    events of lower versions: it is an answer, never a starting point for another fold.
    """
    if state.version > 0:
        outside = (
            (at_version is not None and state.version > at_version)
            or (known_at is not None and _after(state.last_event_at, known_at))
            or (effective_at is not None and _after(state.last_effective_at, effective_at))
        )
        if outside:
            raise ValueError(f"{state.fund_id} v{state.version} is not within the bounds asked")
    selected = [
        event
        for event in fold_inputs(state.version, events)
        if (at_version is None or event.version <= at_version)
        and (known_at is None or event.recorded_at <= known_at)
        and (effective_at is None or event.effective_at <= effective_at)
    ]
    _check_not_backdated(state, selected)
    selected.sort(key=fold_key)
    return project(state, selected)


def _after(moment: datetime | None, bound: datetime) -> bool:
    return moment is not None and moment > bound


def _check_not_backdated(state: FundState, events: list[FundEvent]) -> None:
    high = state.last_effective_at
    if high is None or not events:
        return
    earliest = min(events, key=fold_key)
    # Equal effective times are fine: the new event's higher version sorts it after the state.
    if earliest.effective_at < high:
        raise BackdatedEventError(state.fund_id, earliest.version, earliest.effective_at)
