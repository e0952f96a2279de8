"""Issue 12's append row: one-event appends with `effective_at` set (backdated a day) against
the same appends without it, measured back to back in the appends phase (phases.py), so the
shared machine's load hits both alike. Unset, an event stores NULL (= its recorded_at) and
costs nothing extra; set, it is one more timestamptz per event and one comparison per append
with the commit time plus the horizon (migration 0008)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from tests.bench.checks import Check, throughput_ratio
from tests.bench.measure import Figure

CONCURRENCY = 32
UNSET = f"append.own.c{CONCURRENCY}"
SET = f"append.eff.c{CONCURRENCY}"
TARGET_RATIO = 0.95


async def measure_effective_appends(
    work: Callable[..., Any], measure: Callable[..., Awaitable[Figure]], tag: str, counted_by: str
) -> None:
    """The `effective_at` row, right after the unset one it is compared with."""
    c = CONCURRENCY
    workload = work("append", tag=f"{tag}eff{c}", effective_at=True)
    label = f"append 1 event, own stream, effective_at set, c{c}"
    await measure(SET, label, workload, c, pg_counted_by=counted_by)


def issue12_append_checks(figures: Mapping[str, Figure]) -> list[Check]:
    what = f"append 1 event c{CONCURRENCY} with effective_at set, calls/s"
    return [throughput_ratio(figures, SET, UNSET, TARGET_RATIO, what, 12)]
