"""The two clocks of a time-travel question, and which snapshot may answer it. Pure.

A question names a point on each axis: the business date E (effective_at: only events effective
at or before it) and the known time K (known_at: only events recorded at or before it), or a
version instead of K. It selects exactly the events inside both bounds; the kernel folds them
in (effective_at, version) order (fold_selected).

A snapshot is a complete prefix: every event up to its version, folded in that order. It may
stand in for part of the answer only if

1. it is *within* the question: every event in it is selected (its event_time <= K, or its
   version <= the asked version, and its effective_through <= E), and
2. no selected event after it sorts before it: an event with a higher version but an
   effective_at before the snapshot's effective_through (a backdated one) would have to be
   folded *inside* it. Such a snapshot is unusable for this question — never wrong: the
   answer comes from an older snapshot whose effective_through is at or before that event's
   effective time (it then sorts after that snapshot), or from the first event.

Rule 2 depends on events the question selects, so a snapshot unusable at a later known time (a
backdated event recorded since) stays usable at the known times before it was recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from fundledger_kernel.fund.fold_input import LoggedEvent

from snapshotter.domain.model import Snapshot


@dataclass(frozen=True)
class Axes:
    """A question's bounds; None means no bound on that axis."""

    # E: events effective at or before this instant.
    effective_at: datetime | None = None
    # K: events recorded at or before this instant.
    known_at: datetime | None = None
    # Events up to this version (the version form of K).
    at_version: int | None = None

    def selects(self, event: LoggedEvent) -> bool:
        """Whether the question includes `event`."""
        return (
            (self.at_version is None or event.version <= self.at_version)
            and (self.known_at is None or event.recorded_at <= self.known_at)
            and (self.effective_at is None or event.business_time <= self.effective_at)
        )

    def holds(self, snapshot: Snapshot) -> bool:
        """Rule 1: every event folded into `snapshot` is selected.

        By its last event's recorded time: recorded_at never decreases as the version grows,
        so the event at `version` is the latest recorded in the snapshot.
        """
        if snapshot.effective_through is None:
            return False  # written before business time: its fold order is not this one's
        return (
            (self.at_version is None or snapshot.version <= self.at_version)
            and (self.known_at is None or snapshot.event_time <= self.known_at)
            and (self.effective_at is None or snapshot.effective_through <= self.effective_at)
        )

    @property
    def complete(self) -> bool:
        """Whether the answer is a complete prefix of the log (no bound on business time, so
        every event up to the bound is selected): only such a state may be stored."""
        return self.effective_at is None


@dataclass(frozen=True)
class Fallback:
    """An older base is needed: one below `below_version` whose effective_through is at or
    before `effective_through_at_most`, still within the question (or none: the first event)."""

    below_version: int
    effective_through_at_most: datetime


def fallback_for(
    axes: Axes, base: Snapshot | None, after: Iterable[LoggedEvent]
) -> Fallback | None:
    """Rule 2 for `base`, given the events after it (by version): None when it is usable.

    Otherwise the earliest effective time among the selected events after it that sort before
    it: a base at or before that time has every one of those events sorting after it. Events
    between that older base and `base` are checked again by the next call (the caller reads
    them and passes them with these).
    """
    if base is None:
        return None  # the empty state: everything sorts after it
    through = base.effective_through
    if through is None:  # never chosen (Axes.holds), but a foreign row must not pass
        raise ValueError(f"snapshot {base.snapshot_id} has no effective_through")
    floor: datetime | None = None
    for event in after:
        if event.version <= base.version or not axes.selects(event):
            continue
        effective = event.business_time
        if effective < through and (floor is None or effective < floor):
            floor = effective
    if floor is None:
        return None
    return Fallback(base.version, floor)
