"""What the use cases need from the outside world (implemented in adapters/)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from fundledger_kernel.fund.fold_input import LoggedEvent

from snapshotter.domain.axes import Axes
from snapshotter.domain.model import Progress, Snapshot, StreamInfo
from snapshotter.domain.timeline import TimelineEvent

StateJson = Mapping[str, Any]


class EventLog(Protocol):
    """The event store, read over gRPC (services never read its tables)."""

    async def stream_info(self, fund_id: str) -> StreamInfo | None: ...

    async def read_stream(
        self,
        fund_id: str,
        *,
        from_version: int | None = None,
        max_count: int = 0,
        max_recorded_at: datetime | None = None,
        backwards: bool = False,
    ) -> list[LoggedEvent]: ...

    async def read_timeline(
        self,
        fund_id: str,
        *,
        from_version: int | None,
        max_count: int,
        max_recorded_at: datetime | None,
    ) -> list[TimelineEvent]:
        """read_stream backwards, each event with everything the log stores beside it."""
        ...

    async def read_all(
        self, *, from_position: int, categories: Sequence[str], max_count: int
    ) -> list[LoggedEvent]: ...


class SnapshotStore(Protocol):
    """Every read made for a caller is narrowed to their tenant (tenant_scope())."""

    async def get(self, fund_id: str, version: int, fold_version: int) -> Snapshot | None: ...

    async def newest_within(
        self,
        fund_id: str,
        fold_version: int,
        axes: Axes,
        *,
        below_version: int | None = None,
        effective_through_at_most: datetime | None = None,
    ) -> tuple[Snapshot, StateJson] | None:
        """This fold's newest snapshot (by version) that `axes` holds (Axes.holds: version,
        event_time and effective_through within the question), below `below_version` and with
        effective_through at or before `effective_through_at_most` when given."""
        ...

    async def save(self, snapshot: Snapshot, state: StateJson) -> tuple[Snapshot, bool]:
        """Writes the snapshot unless one exists at its key; returns the stored one and
        whether this call wrote it."""
        ...

    async def stale(self, fold_version: int, limit: int) -> list[Snapshot]:
        """Snapshots of other fold versions with none of `fold_version` at their (fund,
        version), by fund and version: what the upkeep re-takes (service_layer/refold.py)."""
        ...

    async def covers(self, fund_id: str, version: int, fold_version: int) -> bool:
        """Whether a snapshot of this fold exists at `version` or later."""
        ...

    async def page(
        self, fund_id: str, before: tuple[int, int] | None, limit: int
    ) -> list[Snapshot]: ...


class ProgressStore(Protocol):
    async def seen_version(self, fund_id: str) -> int: ...

    async def tenant_of(self, fund_id: str) -> str | None:
        """The fund's tenant as recorded from its events; None when none is recorded (a fund
        not seen yet, or without a tenant)."""
        ...

    async def advance(self, progress: Progress) -> None: ...

    async def changed_since_snapshot(self, fold_version: int) -> list[str]: ...

    async def checkpoint(self) -> int: ...

    async def save_checkpoint(self, position: int) -> None: ...


class Clock(Protocol):
    """Wall-clock time and waiting, injectable so a test can drive the daily trigger."""

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...
