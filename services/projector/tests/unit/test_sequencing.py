"""Which of a fund's events to apply (domain/sequencing) and how a log page is split by fund."""

from __future__ import annotations

from datetime import UTC, datetime

from fundledger_kernel.fund.fold_input import LoggedEvent
from projector.domain.batches import by_fund
from projector.domain.sequencing import plan_apply


def test_plan_apply_next_versions() -> None:
    plan = plan_apply(2, [3, 4])
    assert (plan.first, plan.last, plan.fetch, plan.duplicates) == (3, 4, False, 0)


def test_plan_apply_duplicates_only() -> None:
    plan = plan_apply(5, [4, 5, 5])
    assert plan.empty
    assert plan.duplicates == 3


def test_plan_apply_gap_is_fetched() -> None:
    plan = plan_apply(1, [3])
    assert (plan.first, plan.last, plan.fetch) == (2, 3, True)
    plan = plan_apply(1, [2, 4])  # a hole inside the delivery
    assert (plan.first, plan.last, plan.fetch) == (2, 4, True)


def test_plan_apply_refold_reads_everything_up_to_the_stored_version() -> None:
    plan = plan_apply(7, [], refold=True)
    assert (plan.first, plan.last, plan.fetch) == (1, 7, True)
    assert plan_apply(0, [], refold=True).empty


def _logged(stream_id: str, version: int, position: int) -> LoggedEvent:
    return LoggedEvent(
        stream_id, version, position, f"e{position}", "CAPITAL_CALLED", b"{}", datetime.now(UTC)
    )


def test_a_page_is_split_by_fund_in_order_and_other_streams_are_left_out() -> None:
    page = [
        _logged("fund-a", 1, 1),
        _logged("fund-b", 1, 2),
        _logged("fund-", 1, 3),  # the fund category, but no fund id
        _logged("fund-a", 2, 4),
    ]
    groups = by_fund(page)
    assert list(groups) == ["fund-a", "fund-b"]
    assert [e.position for e in groups["fund-a"]] == [1, 4]
