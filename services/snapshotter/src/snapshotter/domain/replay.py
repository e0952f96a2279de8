"""A fund state and how it was computed: the snapshot it started from and what was folded on top.

The fold's input rules (versions continue one by one, payloads decode) are the kernel's
(fundledger_kernel.fund.fold_input): a log that breaks them raises its FundLogError here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fundledger_kernel.fund import FundState
from fundledger_kernel.fund.fold_input import LoggedEvent, fold_logged

from snapshotter.domain.model import Snapshot


@dataclass(frozen=True)
class Replay:
    """A state and how it was computed."""

    state: FundState
    # The snapshot the fold started from; None when it started from the empty state.
    base: Snapshot | None
    events_replayed: int
    # Position of the event at state.version (0 before any event).
    position: int
    # The fund's tenant as recorded on the snapshot or the events folded (None: none seen).
    tenant: str | None = None

    def extended(self, events: Sequence[LoggedEvent]) -> Replay:
        """This replay with `events` folded on top; FundLogError unless they continue it."""
        if not events:
            return self
        return Replay(
            fold_logged(self.state, events),
            self.base,
            self.events_replayed + len(events),
            events[-1].position,
            self.tenant or next((e.tenant for e in events if e.tenant), None),
        )
