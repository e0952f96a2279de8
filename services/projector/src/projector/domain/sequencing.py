"""Which of a fund's events to apply, given the version the projection stands at.

Pure rules of the exactly-once apply path (the caller holds the fund's row lock
while it asks and while it acts on the answer):
- an event at or below the stored version is a duplicate (at-least-once bus,
  catch-up racing the bus, a redelivery after a crash between commit and ack):
  it is acknowledged and changes nothing;
- the events applied must be exactly stored+1, stored+2, … with no hole: when
  the given events do not form that run (a message lost on the bus, or a later
  one delivered first), the run up to the highest version given is read from the
  event store instead, which holds every event that was ever acknowledged to a
  writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ApplyPlan:
    """What to do with a batch of one fund's events."""

    duplicates: int
    # Versions to apply: `first..last` inclusive; empty when first > last.
    first: int
    last: int
    # True when the given events do not cover first..last: read them from the log.
    fetch: bool

    @property
    def empty(self) -> bool:
        return self.first > self.last


def plan_apply(stored_version: int, versions: Sequence[int], *, refold: bool = False) -> ApplyPlan:
    """The plan for events with `versions` over a row at `stored_version`.

    `refold` means the stored state cannot be used (written by another fold
    version, or unreadable): the whole stream up to at least `stored_version` is
    folded again from version 1, read from the log.
    """
    duplicates = sum(1 for v in versions if v <= stored_version)
    fresh = sorted({v for v in versions if v > stored_version})
    if refold:
        return ApplyPlan(duplicates, 1, max([stored_version, *fresh]), fetch=True)
    if not fresh:
        return ApplyPlan(duplicates, stored_version + 1, stored_version, fetch=False)
    contiguous = fresh == list(range(stored_version + 1, stored_version + 1 + len(fresh)))
    return ApplyPlan(duplicates, stored_version + 1, fresh[-1], fetch=not contiguous)
