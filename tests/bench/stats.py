"""What one share of a measurement returns, and how shares merge into one figure."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ShareResult:
    """One client process's part of a measurement (latencies of calls that ended in
    the window; errors counted separately)."""

    latencies: list[float]
    errors: int
    first_error: str
    window_seconds: float
    cpu_seconds: float  # the client process's CPU time during the window


@dataclass(frozen=True)
class Measurement:
    calls: int
    errors: int
    seconds: float
    calls_per_second: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    client_cpu_pct: float  # summed over client processes; 100 = one core
    first_error: str


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence (0 when empty)."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def merge(shares: Sequence[ShareResult]) -> Measurement:
    latencies = sorted(x for s in shares for x in s.latencies)
    seconds = max((s.window_seconds for s in shares), default=0.0)
    calls = len(latencies)
    errors = sum(s.errors for s in shares)
    return Measurement(
        calls=calls,
        errors=errors,
        seconds=seconds,
        calls_per_second=calls / seconds if seconds > 0 else 0.0,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        mean_ms=(sum(latencies) / calls * 1000) if calls else 0.0,
        client_cpu_pct=100 * sum(s.cpu_seconds for s in shares) / seconds if seconds else 0.0,
        first_error=next((s.first_error for s in shares if s.first_error), ""),
    )
