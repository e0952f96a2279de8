"""A fund's row of the projection, in the shapes the use cases see it.

The stored state is carried as the JSON text the row holds and read only where
it is needed (stored_state.py): an answer served from the read cache, or an
apply over the state this process committed last, never pays for parsing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

RowKey = tuple[int, int, datetime]
"""(version, fold version, updated_at): what a row's answer is made of. Every write
moves updated_at, so one key is one stored state."""


@dataclass(frozen=True, slots=True)
class FundHead:
    """A row without its state."""

    fund_id: str
    version: int
    position: int
    fold_version: int
    updated_at: datetime
    # The fund's tenant as recorded (None: none); GetFundState answers NOT_FOUND to a caller
    # who may not see it.
    tenant: str | None = None

    @property
    def key(self) -> RowKey:
        return (self.version, self.fold_version, self.updated_at)


@dataclass(frozen=True, slots=True)
class FundRead:
    """A row as GetFundState reads it."""

    head: FundHead
    # None when the row is at the version and fold version of the key the reader said
    # it already had an answer for.
    state_text: str | None


@dataclass(frozen=True, slots=True)
class Written:
    """What a write left in the row: its update time and the fund's tenant (the one it
    already had, or the one this write recorded)."""

    updated_at: datetime
    tenant: str | None


@dataclass(frozen=True, slots=True)
class StoredRow:
    """A fund's row as the apply path finds it under the row lock."""

    version: int
    position: int
    fold_version: int
    # None when the row is at the version of the state the applier said it holds.
    state_text: str | None
    # The hash of the row's last event in its stream's chain (None: not known).
    chain_hash: bytes | None = None


@dataclass(frozen=True, slots=True)
class FundRow:
    """A row as a listing reads it."""

    fund_id: str
    name: str
    version: int
    fold_version: int
    updated_at: datetime
    state_text: str
