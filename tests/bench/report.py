"""The results table, the target checks, and the JSON file of a run."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.bench.measure import Figure
from tests.bench.pg_work import PgWork, cpu_ratio, describe
from tests.bench.server_cpu import cpu_us_per_call, server_cpu_pct
from tests.bench.targets import Check, baseline_of


def ratios(figure: Figure, base: Figure | None) -> tuple[float, float] | None:
    """(calls/s, p50) of a figure over its baseline's."""
    if base is None or base.result.calls_per_second == 0 or base.result.p50_ms == 0:
        return None
    if figure.result.calls == 0:
        return None
    return (
        figure.result.calls_per_second / base.result.calls_per_second,
        figure.result.p50_ms / base.result.p50_ms,
    )


def _pg_of(figure: Figure | None) -> PgWork | None:
    return None if figure is None else figure.pg


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}%"


def _us(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def render(figures: Sequence[Figure], checks: Sequence[Check]) -> str:
    by_key = {f.key: f for f in figures}
    head = (
        f"{'figure':<24}{'value':>10} {'unit':<9}{'p50 ms':>8}{'p99 ms':>8}  "
        f"{'baseline':<20}{'×calls':>7}{'×p50':>7}  {'µs/call':>8}{'cpu: server':>12}"
        f"{'pg':>6}{'client':>7}{'all':>6}"
    )
    lines = [head, "-" * len(head)]
    for f in figures:
        base = baseline_of(f.key)
        r = ratios(f, by_key.get(base or ""))
        calls, p50 = (f"{r[0]:.2f}", f"{r[1]:.1f}") if r else ("", "")
        p50_ms, p99_ms = (
            (f"{f.result.p50_ms:.2f}", f"{f.result.p99_ms:.2f}") if f.result.calls else ("–", "–")
        )
        lines.append(
            f"{f.key:<24}{f.value:>10,.0f} {f.unit:<9}{p50_ms:>8}"
            f"{p99_ms:>8}  {base or '':<20}{calls:>7}{p50:>7}  "
            f"{_us(cpu_us_per_call(f)):>8}{_pct(server_cpu_pct(f)):>12}"
            f"{_pct(f.cpu.get('postgres')):>6}"
            f"{_pct(f.cpu.get('client')):>7}{_pct(f.cpu.get('machine')):>6}"
            + (f"  ({f.result.errors} errors)" if f.result.errors else "")
        )
        if f.pg is not None:
            lines.append("    " + describe(f.pg, _pg_of(by_key.get(base or "")), base or ""))
    lines += [
        "",
        "×calls, ×p50: the figure's calls/s and p50 over its baseline's (same run).",
        "µs/call: the server's CPU per call (its CPU seconds in the window ÷ calls; a batch",
        "is one call), the figure the machine's noise moves least.",
        "cpu: percent of one core during the measured window; 'all' is the whole machine;",
        "server: the process serving the call (projector, snapshotter, allocation, event store;",
        "peer-*: the benchmark's own process, where the eventsourcing library runs).",
    ]
    if any(f.pg is not None for f in figures):
        lines += [
            "pg per event: PostgreSQL's transactions, WAL bytes, tuples read (returned + fetched),",
            "UPDATEs of eventstore.streams and CPU per appended (inserted) event in the window;",
            "(N× insert.cX's): its CPU per event over the raw insert's.",
        ]
    for issue in sorted({c.issue for c in checks}):
        lines += ["", f"targets (issue {issue}, 2-core machine):"]
        for c in checks:
            if c.issue == issue:
                verdict = "n/a " if c.passed is None else ("PASS" if c.passed else "FAIL")
                lines.append(f"  [{verdict}] {c.target:<70} actual {c.actual}")
    return "\n".join(lines)


def write_json(
    out_dir: Path, figures: Sequence[Figure], checks: Sequence[Check], extra: Mapping[str, Any]
) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"results-{stamp}.json"
    by_key = {f.key: f for f in figures}
    rows = []
    for f in figures:
        base = baseline_of(f.key)
        r = ratios(f, by_key.get(base or ""))
        row = dataclasses.asdict(f)
        row.update(
            value=f.value,
            baseline=base,
            ratio_calls=r[0] if r else None,
            ratio_p50=r[1] if r else None,
            server_cpu_pct=server_cpu_pct(f),
            server_cpu_us_per_call=cpu_us_per_call(f),
            pg_cpu_ratio=cpu_ratio(f.pg, _pg_of(by_key.get(base or ""))),
        )
        rows.append(row)
    document = {**extra, "figures": rows, "targets": [dataclasses.asdict(c) for c in checks]}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path
