"""What the projector's use cases need from the outside world (implemented in adapters/).

Events come in the kernel's LoggedEvent, whatever carried them (the bus, the
event store's API); rows in the domain's shapes (domain/model.py). States go
out as FundState: how a row stores one is the adapter's business.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from fundledger_kernel.fund import FundState
from fundledger_kernel.fund.fold_input import LoggedEvent

from projector.domain.model import FundRead, FundRow, RowKey, StoredRow, Written


class EventLog(Protocol):
    """The event store's log, read through its API. A failed call raises Unavailable
    (EVENT_STORE_UNAVAILABLE)."""

    async def read_stream(
        self, fund_id: str, *, from_version: int, max_count: int
    ) -> list[LoggedEvent]:
        """Up to `max_count` events of the fund from `from_version` on; [] for no stream."""
        ...

    async def read_funds(self, *, from_position: int, max_count: int) -> list[LoggedEvent]:
        """Up to `max_count` fund events at or after `from_position`, in position order."""
        ...

    async def head_position(self) -> int: ...


class LockedFund(Protocol):
    """A fund's row, locked by an open transaction until it ends."""

    @property
    def row(self) -> StoredRow: ...

    async def write(
        self, state: FundState, position: int, tenant: str | None, *, chain_hash: bytes | None
    ) -> Written:
        """Stores `state` (at `position`, its last event's hash `chain_hash`) in the locked row,
        recording `tenant` as the fund's unless it has one; returns its update time and
        tenant."""
        ...


class FundTable(Protocol):
    """One projection table (the live one or a rebuild's), through one connection."""

    async def write_at(
        self,
        state: FundState,
        position: int,
        *,
        version: int,
        tenant: str | None,
        chain_hash: bytes | None,
    ) -> Written | None:
        """Stores `state` only if the row is at `version` under this fold version, checked
        and written atomically (recording `tenant` as in LockedFund.write); its update time
        and tenant, or None when the row was not there."""
        ...

    def lock(
        self, fund_id: str, *, create: bool, known_version: int
    ) -> AbstractAsyncContextManager[LockedFund | None]:
        """A transaction holding the fund's row lock: committed when the block ends,
        rolled back when it raises. `create` inserts a version-0 row for a new fund
        first (None without it when there is no row); the state is left out of the
        row when it is at `known_version` and this fold version."""
        ...


class FundStore(Protocol):
    """The live table: one connection per apply, a bounded number at a time."""

    def session(self) -> AbstractAsyncContextManager[FundTable]: ...


class FundHeads(Protocol):
    """GetFundState's read of a fund's row."""

    async def read(self, fund_id: str, known: RowKey | None) -> FundRead | None:
        """The row as committed when (or after) this call was made; None when the fund
        has no row. Its state may be left out when the row is at `known`'s version and
        fold version (the caller checks the whole key)."""
        ...


class ProjectionRows(Protocol):
    """Reads of the live table, and the catch-up checkpoint."""

    async def page(self, after: str | None, limit: int) -> list[FundRow]:
        """Funds in fund id order, strictly after `after`; only the caller's tenant's
        (tenant_scope())."""
        ...

    async def tenant_funds(self, after: str | None, limit: int) -> list[str]:
        """Ids of the caller's tenant's funds (tenant_scope(); every fund when None) in fund id
        order, strictly after `after`."""
        ...

    async def count(self) -> int:
        """Funds the caller may see (tenant_scope())."""
        ...

    async def versions(self, fund_ids: Collection[str]) -> dict[str, tuple[int, int]]:
        """(version, fold version) of each of `fund_ids` that has a row."""
        ...

    async def stale(self, fold_version: int, after: str | None, limit: int) -> list[str]:
        """Funds after `after` (fund id order) whose row another fold version wrote."""
        ...

    async def checkpoint(self) -> int: ...

    async def advance_checkpoint(self, position: int) -> None:
        """Moves the checkpoint to `position` unless it is already further."""
        ...


class SwapLockTimeoutError(Exception):
    """The live table stayed busy too long for a rebuild to lock it; nothing was swapped."""


class RebuildSpace(Protocol):
    """A fresh projection table, built while the live one serves."""

    @property
    def table(self) -> FundTable: ...

    async def swap(self, final_delta: Callable[[], Awaitable[int]]) -> int:
        """In one transaction: locks the live table against applies (reads go on), awaits
        `final_delta` (which brings the fresh table up to the log and returns the
        position it reached), swaps the fresh table in and sets the checkpoint to that
        position. Returns the number of funds. SwapLockTimeoutError when the lock
        could not be had in time."""
        ...


class RebuildLock(Protocol):
    """One rebuild at a time, across every replica."""

    def space(self) -> AbstractAsyncContextManager[RebuildSpace | None]:
        """The lock and a fresh table while the block runs; None when another rebuild
        holds the lock. Whatever was not swapped in is dropped afterwards."""
        ...

    async def running(self) -> bool:
        """Whether any replica is rebuilding."""
        ...
