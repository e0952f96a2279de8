"""The fund fold: `evolve` applies one event, `project` applies many.

This is the one definition of what a fund's events mean. The projector (current state), the
snapshotter (state at a time or version) and allocation (state at the version a proposal is
checked against) all call it, so the three cannot disagree.

It is pure: the state and the event in, a new state out; no clock, no I/O, no randomness, and the
input state is never changed. That is what makes snapshots sound: folding events[k:] over the
state after events[:k] gives exactly the state after all events, for every k.

Order: a fund's events mean what they mean in business time, so a fold applies them in
(effective_at, version) order (`fold_key`): the latest *effective* valuation is the company's
valuation, whenever it was recorded. `project` folds in the order it is given; fold_input.py
sorts and guards against folding a backdated event on top of a state that already holds a
later-effective one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime

from fundledger_kernel.fund.events import FundEvent
from fundledger_kernel.fund.handlers import HANDLERS
from fundledger_kernel.fund.state import FundState

FOLD_VERSION: int = 2
"""Version of the fold's meaning. Bump it whenever a handler, a stored field or the meaning of a
stored field changes: the snapshotter ignores snapshots taken by another fold version (FM-11),
which then get rebuilt from the log instead of being read as if this fold had made them.
Version 2: events fold in effective-time order; instruments, shares and valuation methods."""


def fold_key(event: FundEvent) -> tuple[datetime, int]:
    """The order a fund's events fold in: effective time, then stream version."""
    return (event.effective_at, event.version)


def empty_state(fund_id: str) -> FundState:
    """The state of fund `fund_id` (its stream id, `fund-<uuid>`) before any event: version 0."""
    return FundState(fund_id=fund_id)


def evolve(state: FundState, event: FundEvent) -> FundState:
    """The state after `event`. Never mutates `state`; never fails on an unknown event type.

    Whatever the type, the event moves the state's high-water marks (version, recorded and
    effective time) up to its own. An event type this fold has no handler for is skipped and
    counted in `skipped_events`, so a stream written by a newer service still folds, and the
    skip is visible instead of silent.
    """
    # Normalised to UTC so that equal instants give equal states and identical stored JSON,
    # whatever zone the reader of the event happened to use.
    at = event.recorded_at.astimezone(UTC)
    # Most events are effective when recorded (the same object): convert once.
    given = event.effective_at
    effective = at if given is event.recorded_at else given.astimezone(UTC)
    version = max(state.version, event.version)
    if state.last_event_at is not None and state.last_event_at > at:
        at = state.last_event_at
    if state.last_effective_at is not None and state.last_effective_at > effective:
        high = state.last_effective_at
    else:
        high = effective
    handler = HANDLERS.get(event.event_type)
    if handler is None or event.data is None:
        return replace(
            state,
            skipped_events=state.skipped_events + 1,
            version=version,
            last_event_at=at,
            last_effective_at=high,
        )
    after = handler(state, event.data, effective)
    if after is state:  # REALLOCATION_COMMITTED changes nothing; its input must not change either
        after = replace(state)
    # The handler's state is new and nobody else holds it yet, so it gets its version and times
    # in place rather than by a third copy of the whole state per event (a copy costs ~4 us).
    object.__setattr__(after, "version", version)
    object.__setattr__(after, "last_event_at", at)
    object.__setattr__(after, "last_effective_at", high)
    return after


def project(state: FundState, events: Iterable[FundEvent]) -> FundState:
    """Fold `events`, in the order given, over `state` (an empty state or a snapshot).

    Callers fold in `fold_key` order; fold_input.py is the way in for events read from a log.
    """
    for event in events:
        state = evolve(state, event)
    return state
