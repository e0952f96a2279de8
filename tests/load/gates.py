"""The gates a load run must pass: read locust's stats CSV, compare with gates.toml.

Pure (files in, breaches out) so it is unit-tested without a stack. A gate breaks when
an operation's p95 is at or above its threshold, when an operation's (or the whole
run's) failure rate is above the allowed rate, or when a gated operation has no
requests at all (a scenario that never ran cannot pass).
"""

from __future__ import annotations

import csv
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_GATES = Path(__file__).with_name("gates.toml")
AGGREGATED = "Aggregated"


@dataclass(frozen=True)
class OperationGate:
    p95_ms: float
    max_error_rate: float


@dataclass(frozen=True)
class Gates:
    max_error_rate: float  # over every request of the run
    operations: Mapping[str, OperationGate]


@dataclass(frozen=True)
class OperationStats:
    name: str
    methods: tuple[str, ...]  # the Type column: the RPC's full method name
    requests: int
    failures: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    rps: float

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class Breach:
    operation: str
    message: str

    def __str__(self) -> str:
        return f"{self.operation}: {self.message}"


def load_gates(path: Path = DEFAULT_GATES) -> Gates:
    raw = tomllib.loads(path.read_text())
    default_rate = float(raw.get("max_error_rate", 0.01))
    operations = {
        str(name): OperationGate(
            p95_ms=float(table["p95_ms"]),
            max_error_rate=float(table.get("max_error_rate", default_rate)),
        )
        for name, table in raw.get("operations", {}).items()
    }
    return Gates(default_rate, operations)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:  # "N/A" when there were no requests
        return math.nan


def read_stats(path: Path) -> dict[str, OperationStats]:
    """Locust's `<prefix>_stats.csv` by Name (rows of one name under several Types merge:
    counts add up, percentiles take the worst)."""
    stats: dict[str, OperationStats] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            name = row["Name"]
            requests = int(row["Request Count"])
            entry = OperationStats(
                name=name,
                methods=(row["Type"],) if row["Type"] else (),
                requests=requests,
                failures=int(row["Failure Count"]),
                p50_ms=_number(row["50%"]),
                p95_ms=_number(row["95%"]),
                p99_ms=_number(row["99%"]),
                rps=_number(row["Requests/s"]),
            )
            seen = stats.get(name)
            stats[name] = entry if seen is None else _merge(seen, entry)
    return stats


def _merge(a: OperationStats, b: OperationStats) -> OperationStats:
    return OperationStats(
        name=a.name,
        methods=a.methods + b.methods,
        requests=a.requests + b.requests,
        failures=a.failures + b.failures,
        p50_ms=max(a.p50_ms, b.p50_ms),
        p95_ms=max(a.p95_ms, b.p95_ms),
        p99_ms=max(a.p99_ms, b.p99_ms),
        rps=a.rps + b.rps,
    )


def check(stats: Mapping[str, OperationStats], gates: Gates) -> list[Breach]:
    """Every breach of `gates` in `stats`; empty when the run passes."""
    breaches = []
    for name, gate in gates.operations.items():
        op = stats.get(name)
        if op is None or op.requests == 0:
            breaches.append(Breach(name, "no requests"))
            continue
        if not op.p95_ms < gate.p95_ms:  # NaN breaks too
            breaches.append(Breach(name, f"p95 {op.p95_ms:g} ms >= {gate.p95_ms:g} ms"))
        if op.error_rate > gate.max_error_rate:
            breaches.append(
                Breach(name, f"error rate {op.error_rate:.2%} > {gate.max_error_rate:.2%}")
            )
    total = stats.get(AGGREGATED)
    if total is None or total.requests == 0:
        breaches.append(Breach(AGGREGATED, "no requests"))
    elif total.error_rate > gates.max_error_rate:
        breaches.append(
            Breach(AGGREGATED, f"error rate {total.error_rate:.2%} > {gates.max_error_rate:.2%}")
        )
    return breaches
