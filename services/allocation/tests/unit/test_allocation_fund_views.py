"""FundViews: reads only what follows the cached version; exact, bounded, never stale-wrong.

Over an in-memory log, to count the reads; what a damaged log does is tested against the real
event store (integration/test_allocation_unfoldable_log.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from allocation.domain.commit_events import OutgoingEvent
from allocation.service_layer.fund_views import FundViews
from allocation.service_layer.ports import Appended
from allocation_support import Company, logged, payloads
from fundledger_kernel.fund import empty_state
from fundledger_kernel.fund.fold_input import LoggedEvent, fold_logged
from fundledger_platform.errors import NotFound
from hypothesis import given, settings
from hypothesis import strategies as st

AT = datetime(2025, 1, 1, tzinfo=UTC)


class MemoryLog:
    """An in-memory log of fund streams that records every read it serves."""

    def __init__(self) -> None:
        self.streams: dict[str, list[LoggedEvent]] = {}
        self.reads: list[tuple[str, int, int]] = []

    def add(
        self,
        fund_id: str,
        event_type: str,
        data: dict[str, object],
        effective_at: datetime | None = None,
        schema_version: int = 1,
    ) -> None:
        """Appends one event, recorded a second after the one before it."""
        stream = self.streams.setdefault(fund_id, [])
        version = len(stream) + 1
        recorded = AT + timedelta(seconds=version)
        stream.append(
            logged(fund_id, version, event_type, data, recorded, effective_at, schema_version)
        )

    async def read(self, fund_id: str, from_version: int, max_count: int = 0) -> list[LoggedEvent]:
        self.reads.append((fund_id, from_version, max_count))
        events = self.streams.get(fund_id, [])[from_version - 1 :]
        return events[:max_count] if max_count else events

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
        raise NotImplementedError


def seeded(log: MemoryLog, fund_id: str) -> None:
    for event_type, data in payloads([Company("a", planned=10), Company("b", planned=20)]):
        log.add(fund_id, event_type, data)


async def test_a_fund_is_folded_once_then_only_new_events_are_read() -> None:
    log = MemoryLog()
    seeded(log, "fund-1")
    views = FundViews(log)
    first = await views.current("fund-1")
    assert first.version == 5
    log.add("fund-1", "RESERVE_ALLOCATED", {"company_id": "a", "planned_reserves_cents": 99})
    second = await views.current("fund-1")
    assert second.version == 6
    assert second.state.companies["a"].planned_reserves == 99
    assert log.reads == [("fund-1", 1, 0), ("fund-1", 6, 0)]
    assert first.state.companies["a"].planned_reserves == 10  # views are immutable


async def test_unknown_fund_is_not_found() -> None:
    with pytest.raises(NotFound):
        await FundViews(MemoryLog()).current("fund-nope")


async def test_the_cache_is_bounded_least_recently_used_first() -> None:
    log = MemoryLog()
    for fund in ("fund-1", "fund-2", "fund-3"):
        seeded(log, fund)
    views = FundViews(log, capacity=2)
    await views.current("fund-1")
    await views.current("fund-2")
    await views.current("fund-1")  # fund-2 is now the least recently used
    await views.current("fund-3")
    assert views.cached_at("fund-1", 5) is not None
    assert views.cached_at("fund-2", 5) is None
    assert views.cached_at("fund-3", 5) is not None


async def test_at_version_folds_exactly_that_prefix() -> None:
    log = MemoryLog()
    seeded(log, "fund-1")
    views = FundViews(log)
    view = await views.at_version("fund-1", 4)
    assert view.version == 4
    assert view.state.companies["a"].planned_reserves == 10
    assert view.state.companies["b"].planned_reserves == 0
    assert log.reads == [("fund-1", 1, 4)]


async def test_advance_with_our_own_events_skips_the_read_back() -> None:
    log = MemoryLog()
    seeded(log, "fund-1")
    views = FundViews(log)
    view = await views.current("fund-1")
    data: dict[str, object] = {"company_id": "b", "planned_reserves_cents": 1}
    ours = [logged("fund-1", 6, "RESERVE_ALLOCATED", data, AT + timedelta(seconds=6))]
    views.advance_with(view, ours)
    moved = views.cached_at("fund-1", 6)
    assert moved is not None
    assert moved.state.companies["b"].planned_reserves == 1
    # A batch that does not continue the view is not cached; the log will be read instead.
    views.advance_with(moved, ours)
    assert views.cached_at("fund-1", 6) is None


async def test_our_own_events_sorting_before_the_view_are_not_cached() -> None:
    log = MemoryLog()
    seeded(log, "fund-1")
    views = FundViews(log)
    view = await views.current("fund-1")
    # Effective (= recorded) before the view's last event: only a server allowing future
    # effective times lets that happen. The view cannot be continued; the log will be read.
    data: dict[str, object] = {"company_id": "b", "planned_reserves_cents": 1}
    views.advance_with(view, [logged("fund-1", 6, "RESERVE_ALLOCATED", data, AT)])
    assert views.cached_at("fund-1", 5) is None
    assert views.cached_at("fund-1", 6) is None


# One event of a generated history: (kind, company, amount, effective day). Kinds: a reserve
# decision or a valuation mark (schema version 2, with its method); days count from AT.
_EVENT = st.tuples(
    st.sampled_from(["RESERVE_ALLOCATED", "VALUATION_UPDATED"]),
    st.sampled_from(["a", "b"]),
    st.integers(min_value=0, max_value=10**12),
    st.integers(min_value=0, max_value=40),
)


def _append(log: MemoryLog, event: tuple[str, str, int, int]) -> None:
    kind, company, amount, day = event
    effective = AT + timedelta(days=day)
    if kind == "RESERVE_ALLOCATED":
        data: dict[str, object] = {"company_id": company, "planned_reserves_cents": amount}
        log.add("fund-1", kind, data, effective)
    else:
        data = {
            "company_id": company,
            "valuation_cents": amount,
            "method": "VALUATION_METHOD_MARK_TO_MODEL",
        }
        log.add("fund-1", kind, data, effective, schema_version=2)


@settings(max_examples=60, deadline=None)
@given(batches=st.lists(st.lists(_EVENT, min_size=1, max_size=5), min_size=1, max_size=6))
async def test_the_view_is_always_the_fold_from_scratch_however_events_are_backdated(
    batches: list[list[tuple[str, str, int, int]]],
) -> None:
    log = MemoryLog()
    seeded(log, "fund-1")  # effective at AT + 1..5 s: every generated day >= 0 may precede them
    views = FundViews(log)
    await views.current("fund-1")
    for batch in batches:
        cached = views.cached_at("fund-1", len(log.streams["fund-1"]))
        assert cached is not None
        high = cached.state.last_effective_at
        for event in batch:
            _append(log, event)
        log.reads.clear()
        view = await views.current("fund-1")
        everything = log.streams["fund-1"]
        assert view.state == fold_logged(empty_state("fund-1"), everything)
        backdated = any(
            e.effective_at is not None and high is not None and e.effective_at < high
            for e in everything[cached.version :]
        )
        # Only what follows the cached version is read, unless an event is backdated: then
        # the whole stream, once, and the view is folded from scratch.
        expected_reads = [("fund-1", cached.version + 1, 0)]
        if backdated:
            expected_reads.append(("fund-1", 1, 0))
        assert log.reads == expected_reads
