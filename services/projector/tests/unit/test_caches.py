"""The read path's one cache (read_cache), the apply path's states (state_cache), and the
wake-ups of waiting readers (waiters)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

from fundledger_kernel.fund import FOLD_VERSION, empty_state
from projector.domain.model import FundHead
from projector.service_layer.read_cache import ReadCache
from projector.service_layer.state_cache import StateCache
from projector.service_layer.waiters import Committed, VersionWaiters

AT = datetime(2024, 1, 1, tzinfo=UTC)


def test_the_read_cache_answers_only_at_the_key_it_was_built_for() -> None:
    cache: ReadCache[str] = ReadCache(capacity=2)
    cache.put("fund-a", (2, FOLD_VERSION, AT), "a@2")
    assert cache.get("fund-a", (2, FOLD_VERSION, AT)) == "a@2"
    assert cache.entry("fund-a") == ((2, FOLD_VERSION, AT), "a@2")
    assert cache.get("fund-a", (3, FOLD_VERSION, AT)) is None  # a newer row
    assert cache.get("fund-a", (2, FOLD_VERSION + 1, AT)) is None  # another fold's row
    assert cache.get("fund-a", (2, FOLD_VERSION, AT.replace(second=1))) is None  # rewritten
    cache.put("fund-a", (3, FOLD_VERSION, AT), "a@3")  # replaces the older answer
    assert len(cache) == 1
    assert cache.get("fund-a", (2, FOLD_VERSION, AT)) is None


def test_the_read_cache_keeps_the_recently_used() -> None:
    cache: ReadCache[str] = ReadCache(capacity=2)
    key = (1, FOLD_VERSION, AT)
    cache.put("fund-a", key, "a")
    cache.put("fund-b", key, "b")
    assert cache.get("fund-a", key) == "a"
    cache.put("fund-c", key, "c")
    assert cache.entry("fund-b") is None
    assert cache.get("fund-a", key) == "a"
    assert len(ReadCache[str](capacity=0)) == 0


def test_the_state_cache_never_moves_a_fund_backwards() -> None:
    cache = StateCache(capacity=2)
    v3 = replace(empty_state("fund-a"), version=3)
    cache.put(v3)
    cache.put(replace(v3, version=2))  # an apply that finished after a later one
    assert cache.get("fund-a") == v3
    cache.put(replace(empty_state("fund-b"), version=1))
    cache.put(replace(empty_state("fund-c"), version=1))
    assert cache.get("fund-a") is None  # least recently used
    cache.discard("fund-b")
    assert len(cache) == 1
    cache.clear()
    assert len(cache) == 0


async def test_waiters_are_handed_the_newest_commit() -> None:
    waiters = VersionWaiters()

    def commit(version: int) -> Committed:
        head = FundHead("fund-a", version, version, FOLD_VERSION, AT)
        return Committed(head, replace(empty_state("fund-a"), version=version))

    with waiters.watch("fund-a") as changed, waiters.watch("fund-b") as other:
        waiters.notify("fund-a", commit(3))
        waiters.notify("fund-a", commit(2))  # committed earlier, announced later
        await asyncio.wait_for(changed.wait(), 1)
        assert changed.committed is not None
        assert changed.committed.head.version == 3
        assert not other.is_set()
        waiters.notify_all()
        assert other.is_set()
        assert other.committed is None
    waiters.notify("fund-a")  # nobody waits any more: nothing to wake
