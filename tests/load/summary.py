"""The run's figures against its gates, as a Markdown table (printed and saved)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from tests.load.gates import AGGREGATED, Breach, Gates, OperationStats
from tests.load.operations import OPERATIONS


def _ms(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:g}"


def table(stats: Mapping[str, OperationStats], gates: Gates, breaches: Sequence[Breach]) -> str:
    broken = {b.operation for b in breaches}
    names = [*OPERATIONS, *(n for n in gates.operations if n not in OPERATIONS)]
    names += sorted(n for n in stats if n not in names and n != AGGREGATED)
    lines = [
        "| operation | RPC | requests | failures | p50 ms | p95 ms | p99 ms | req/s "
        "| gate p95 ms | gate |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name in [*names, AGGREGATED]:
        op = stats.get(name)
        gate = gates.operations.get(name)
        verdict = "FAIL" if name in broken else ("pass" if gate or name == AGGREGATED else "–")
        if op is None:
            lines.append(f"| {name} | – | 0 | 0 | – | – | – | – | {_gate(gate)} | {verdict} |")
            continue
        rpc = ", ".join(m.rsplit("/", 1)[-1] for m in op.methods) or "–"
        lines.append(
            f"| {name} | {rpc} | {op.requests} | {op.failures} | {_ms(op.p50_ms)} "
            f"| {_ms(op.p95_ms)} | {_ms(op.p99_ms)} | {op.rps:.1f} | {_gate(gate)} | {verdict} |"
        )
    return "\n".join(lines)


def _gate(gate: object) -> str:
    p95 = getattr(gate, "p95_ms", None)
    return "–" if p95 is None else f"< {p95:g}"
