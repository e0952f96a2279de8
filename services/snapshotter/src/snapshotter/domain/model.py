"""The snapshotter's records: what a snapshot is, what the log says about a fund."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from fundledger_kernel.fund.fold_input import LoggedEvent


class Trigger(enum.StrEnum):
    """Why a snapshot was taken (stored as this text)."""

    EVENT_COUNT = "EVENT_COUNT"
    DAILY = "DAILY"
    MANUAL = "MANUAL"


@dataclass(frozen=True)
class Snapshot:
    """A stored snapshot's description; the state itself is loaded only when needed."""

    snapshot_id: UUID
    fund_id: str
    version: int
    # Global position of the event at `version`.
    position: int
    # recorded_at of the event at `version` (never the wall clock): FM-10, docs/failure-modes.md.
    event_time: datetime
    fold_version: int
    trigger: Trigger
    # Events folded on top of the snapshot this one was built from.
    events_since_previous: int
    # None until the row is written.
    created_at: datetime | None = None
    # The fund's tenant as the event store recorded it (None: none).
    tenant: str | None = None
    # The latest effective time among the events folded into it (state.last_effective_at);
    # None only on rows written before migration 0003, which time travel never uses.
    effective_through: datetime | None = None
    # The hash chain's value at `version`: the stored hash of that event, or the link computed
    # for an event not hashed yet (issue 13). None: not known (a row written before the
    # snapshotter verified the chain, or a log with no hash to start from).
    chain_hash: bytes | None = None


@dataclass(frozen=True)
class StreamInfo:
    """What the event store reports about a fund stream."""

    version: int
    first_recorded_at: datetime | None
    last_recorded_at: datetime | None


@dataclass(frozen=True)
class Progress:
    """The newest event of a fund the snapshotter has seen (from the bus or the catch-up)."""

    fund_id: str
    version: int
    position: int
    event_time: datetime
    # The fund's tenant as the event store recorded it (None: none).
    tenant: str | None = None

    @classmethod
    def of(cls, event: LoggedEvent) -> Progress:
        """The progress a fund's event (from the bus or the catch-up) stands for."""
        return cls(
            event.stream_id, event.version, event.position, event.recorded_at, event.tenant or None
        )
