"""What the append use case (service_layer/append.py) needs from storage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from fundledger_platform.errors import DomainError

from eventstore.domain.model import AppendCommand, AppendResult


@dataclass
class GroupOutcome:
    """Each append's own outcome, by its index in the group."""

    results: dict[int, AppendResult | DomainError] = field(default_factory=dict)
    # Appends whose result is another append's in the same group (same idempotency key).
    aliases: dict[int, int] = field(default_factory=dict)


class GroupWriteInterrupted(Exception):
    """The group's transaction failed as a whole and wrote nothing (a deadlock with
    another replica, a lost connection…); the same appends may well succeed when
    tried again."""


class GroupWriter(Protocol):
    """One transaction for a group of appends: every append succeeds or fails on its
    own (a version conflict in one leaves the others alone), and all of them commit
    together. Implemented by adapters/group_write.py (PostgresGroupWriter)."""

    async def write(self, commands: Sequence[AppendCommand]) -> GroupOutcome:
        """The outcome of every append once the transaction has committed; raises
        GroupWriteInterrupted when nothing was committed but a retry may succeed."""
        ...

    async def close(self) -> None:
        """Gives back what the writer holds (its connection); called once writing is over."""
        ...
