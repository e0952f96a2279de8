"""The start-up fold upgrade's decisions: nothing to do, rebuild then refold in place, and the
in-place refold alone when the rebuild cannot swap."""

from __future__ import annotations

from collections.abc import Collection

import pytest
from fundledger_kernel.fund import FOLD_VERSION
from fundledger_platform.errors import FailedPrecondition, Unavailable
from fundledger_platform.reasons import Reason
from projector.domain.model import FundRow
from projector.service_layer.fold_upgrade import FoldUpgrade
from projector.service_layer.rebuild import RebuildResult


class Rows:
    def __init__(self, stale: list[str]) -> None:
        self.stale_ids = stale
        self.asked: list[int] = []

    async def stale(self, fold_version: int, after: str | None, limit: int) -> list[str]:
        self.asked.append(fold_version)
        return self.stale_ids[:limit]

    async def page(self, after: str | None, limit: int) -> list[FundRow]:
        raise NotImplementedError

    async def tenant_funds(self, after: str | None, limit: int) -> list[str]:
        raise NotImplementedError

    async def count(self) -> int:
        raise NotImplementedError

    async def versions(self, fund_ids: Collection[str]) -> dict[str, tuple[int, int]]:
        raise NotImplementedError

    async def checkpoint(self) -> int:
        raise NotImplementedError

    async def advance_checkpoint(self, position: int) -> None:
        raise NotImplementedError


class Calls:
    def __init__(self, rebuild_error: Exception | None = None) -> None:
        self.rebuild_error = rebuild_error
        self.log: list[str] = []

    async def rebuild(self) -> RebuildResult:
        self.log.append("rebuild")
        if self.rebuild_error is not None:
            raise self.rebuild_error
        return RebuildResult(1, 3, 3)

    async def refold(self) -> int:
        self.log.append("refold")
        return 0


def upgrade(rows: Rows, calls: Calls) -> FoldUpgrade:
    return FoldUpgrade(rows, calls.rebuild, calls.refold, retry_seconds=0)


async def test_no_stale_row_means_no_rebuild() -> None:
    rows, calls = Rows([]), Calls()
    assert not await upgrade(rows, calls).run_once()
    assert calls.log == []
    assert rows.asked == [FOLD_VERSION]


async def test_stale_rows_are_rebuilt_then_refolded_in_place() -> None:
    calls = Calls()
    assert await upgrade(Rows(["fund-a"]), calls).run_once()
    assert calls.log == ["rebuild", "refold"]


async def test_a_rebuild_that_cannot_run_leaves_the_in_place_refold() -> None:
    busy = FailedPrecondition("a rebuild is running", reason=Reason.REBUILD_IN_PROGRESS)
    calls = Calls(busy)
    assert await upgrade(Rows(["fund-a"]), calls).run_once()
    assert calls.log == ["rebuild", "refold"]


async def test_an_absent_event_store_is_retried_not_refolded_around() -> None:
    calls = Calls(Unavailable("the event store is away", reason=Reason.EVENT_STORE_UNAVAILABLE))
    with pytest.raises(Unavailable):
        await upgrade(Rows(["fund-a"]), calls).run_once()
    assert calls.log == ["rebuild"]
