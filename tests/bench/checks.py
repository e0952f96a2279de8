"""A target check, and the kinds of same-run comparison the issue-11 targets make.

Each issue-11 check bounds one ratio between figures of the same run (throughput, server
CPU per call, PostgreSQL CPU per event, a latency over its budget), and carries that ratio,
its bound and the figures it read, so that runs can be combined (median.py) without
measuring anything again. Pure functions of the figures: no timing, no servers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tests.bench.measure import Figure
from tests.bench.pg_work import cpu_ratio
from tests.bench.server_cpu import cpu_us_per_call


@dataclass(frozen=True)
class Check:
    target: str
    actual: str
    passed: bool | None  # None: not measured in this run
    issue: int = 2
    value: float | None = None  # the bounded figure (issue 11: a ratio), None if not measured
    limit: float | None = None  # its bound
    at_most: bool = False  # value ≤ limit passes (else value ≥ limit)
    figures: tuple[str, ...] = ()  # the figures it compares


def bounded(
    target: str,
    value: float | None,
    limit: float,
    *,
    at_most: bool,
    figures: tuple[str, ...],
    issue: int,
    actual: str | None = None,
) -> Check:
    """A check of `value` against `limit`; `actual` defaults to the value as a ratio."""
    if value is None:
        return Check(target, "not measured", None, issue, None, limit, at_most, figures)
    passed = passes(value, limit, at_most)
    shown = actual if actual is not None else f"{value:.3f}×"
    return Check(target, shown, passed, issue, value, limit, at_most, figures)


def passes(value: float, limit: float, at_most: bool) -> bool:
    return value <= limit if at_most else value >= limit


def throughput_ratio(
    figures: Mapping[str, Figure], key: str, base: str, limit: float, what: str, issue: int
) -> Check:
    """`key`'s value (calls/s or events/s) ≥ `limit` × `base`'s."""
    f, b = figures.get(key), figures.get(base)
    value = f.value / b.value if f is not None and b is not None and b.value > 0 else None
    return bounded(
        f"{what} ≥ {limit:g}× {base}", value, limit, at_most=False, figures=(key, base), issue=issue
    )


def cpu_per_call_ratio(
    figures: Mapping[str, Figure], key: str, base: str, limit: float, what: str, issue: int
) -> Check:
    """The server CPU per call of `key` ≤ `limit` × `base`'s (server_cpu.py)."""
    f, b = figures.get(key), figures.get(base)
    ours = cpu_us_per_call(f) if f is not None else None
    theirs = cpu_us_per_call(b) if b is not None else None
    value = ours / theirs if ours is not None and theirs else None
    shown = None
    if value is not None and ours is not None and theirs is not None:
        shown = f"{value:.3f}× ({ours:,.0f} vs {theirs:,.0f} µs)"
    return bounded(
        f"{what}: server CPU per call ≤ {limit:g}× {base}'s",
        value,
        limit,
        at_most=True,
        figures=(key, base),
        issue=issue,
        actual=shown,
    )


def pg_cpu_check(
    figures: Mapping[str, Figure], key: str, base: str, target: float, issue: int
) -> Check:
    """PostgreSQL CPU per event of a figure at most `target` times its baseline's."""
    f, b = figures.get(key), figures.get(base)
    ratio = cpu_ratio(f.pg if f else None, b.pg if b else None)
    return bounded(
        f"PostgreSQL CPU per appended event ({key}) ≤ {target:g}× {base}'s",
        ratio,
        target,
        at_most=True,
        figures=(key, base),
        issue=issue,
        actual=None if ratio is None else f"{ratio:.2f}×",
    )


def p50_budget(
    figures: Mapping[str, Figure], key: str, echo: str, insert: str, inserts: int, issue: int
) -> Check:
    """`key`'s p50 ≤ `echo`'s p50 + `inserts` × `insert`'s p50: its p50 over that budget ≤ 1."""
    f, e, i = figures.get(key), figures.get(echo), figures.get(insert)
    measured = [x for x in (f, e, i) if x is not None and x.result.calls > 0]
    budget = e.result.p50_ms + inserts * i.result.p50_ms if e and i else 0.0
    value = f.result.p50_ms / budget if len(measured) == 3 and f and budget > 0 else None
    shown = None
    if value is not None and f is not None:
        shown = f"{value:.3f}× ({f.result.p50_ms:.2f} ms vs {budget:.2f} ms)"
    return bounded(
        f"{key} p50 ≤ {echo} p50 + {inserts} × {insert} p50",
        value,
        1.0,
        at_most=True,
        figures=(key, echo, insert),
        issue=issue,
        actual=shown,
    )


def p99_ratio(
    figures: Mapping[str, Figure], key: str, base: str, limit: float, what: str, issue: int
) -> Check:
    """`key`'s p99 ≤ `limit` × `base`'s p99. A figure with no call ended in its window fails."""
    f, b = figures.get(key), figures.get(base)
    target = f"{what} p99 ≤ {limit:g}× {base} p99"
    if f is None or b is None or b.result.calls == 0 or b.result.p99_ms <= 0:
        return bounded(target, None, limit, at_most=True, figures=(key, base), issue=issue)
    if f.result.calls == 0:  # every call outlasted the window
        return Check(
            target, "no call ended in the window", False, issue, None, limit, True, (key, base)
        )
    value = f.result.p99_ms / b.result.p99_ms
    return bounded(
        target,
        value,
        limit,
        at_most=True,
        figures=(key, base),
        issue=issue,
        actual=f"{value:.3f}× ({f.result.p99_ms:.1f} ms vs {b.result.p99_ms:.1f} ms)",
    )
