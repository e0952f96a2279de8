"""What the use cases need from the outside world (implemented in adapters/)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from fundledger_kernel.fund.fold_input import LoggedEvent

from allocation.domain.commit_events import OutgoingEvent


@dataclass(frozen=True, slots=True)
class Appended:
    """The event store's answer to an append (or to its idempotent replay)."""

    first_version: int
    last_version: int
    first_position: int
    # True when nothing was written because the same request had been appended before.
    replayed: bool
    # Commit time of the batch (timezone-aware) and the ids the store gave its events, in order.
    recorded_at: datetime
    event_ids: tuple[str, ...]


class StreamVersionConflict(Exception):
    """The stream was not at the expected version: nothing of the append was written."""

    def __init__(self, actual_version: int | None) -> None:
        super().__init__(f"stream is at version {actual_version}")
        # The stream's version when the store refused; None if the store did not say.
        self.actual_version = actual_version


class EventLog(Protocol):
    """The event store, over gRPC (services never read its tables)."""

    async def read(self, fund_id: str, from_version: int, max_count: int = 0) -> list[LoggedEvent]:
        """Events of the fund from `from_version` on, oldest first (at most `max_count`;
        0 = all), as the log holds them (not decoded: folding decides what an unreadable one
        means); [] for a stream that does not exist."""
        ...

    async def append(
        self,
        fund_id: str,
        expected_version: int,
        events: Sequence[OutgoingEvent],
        *,
        idempotency_key: str,
        user_id: str,
        correlation_id: str,
    ) -> Appended:
        """Appends all `events` atomically, only if the stream is at `expected_version`.

        Raises StreamVersionConflict when it is not. An empty `idempotency_key` means none.
        """
        ...
