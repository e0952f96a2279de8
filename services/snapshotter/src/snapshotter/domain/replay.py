"""A fund state and how it was computed: the snapshot it started from and what was folded on top.

The fold's input rules (versions continue one by one, payloads decode) are the kernel's
(fundledger_kernel.fund.fold_input): a log that breaks them raises its FundLogError here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fundledger_kernel.fund import FundState

from snapshotter.domain.model import Snapshot


@dataclass(frozen=True)
class Replay:
    """A state and how it was computed."""

    state: FundState
    # The snapshot the fold started from; None when it started from the empty state.
    base: Snapshot | None
    # Events folded on top of the base (those the question selected).
    events_replayed: int
    # Position of the last event read (at the asked version, or the newest known at K); 0
    # before any event.
    position: int
    # The fund's tenant as recorded on the snapshot or the events read (None: none seen).
    tenant: str | None = None
    # recorded_at of the last event read: the known time an at_version answer stands at (None
    # when no event was read or held by the base).
    read_through: datetime | None = None
    # The hash chain's value after the last event folded (or the base's, when none was): what a
    # snapshot of this state keeps (Snapshot.chain_hash). None: not known.
    chain_hash: bytes | None = None
