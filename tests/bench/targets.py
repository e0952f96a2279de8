"""The issue's targets (2-core machine) and each figure's same-run baseline."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tests.bench.measure import Figure


@dataclass(frozen=True)
class Check:
    target: str
    actual: str
    passed: bool | None  # None: not measured in this run


def baseline_of(key: str) -> str | None:
    """The baseline figure a figure is compared with: appends with the raw insert
    at the same concurrency (batches: the next measured one up), reads with echo."""
    kind, _, rest = key.partition(".")
    conc = key.rsplit(".c", 1)[-1] if ".c" in key else ""
    if kind in ("append", "shared8"):
        return f"insert.c{conc}"
    if kind == "batch100":
        return {"1": "insert.c1", "4": "insert.c8"}.get(conc)
    if kind in ("read50", "read1000"):
        return f"echo.c{conc}" if not rest.startswith("big") else f"echo.after-load.c{conc}"
    if kind in ("echo-bare", "stream50", "stream1000"):
        return f"echo.c{conc}"
    if kind == "stream50-bare":
        return f"stream50.c{conc}"
    return None


def check_targets(figures: Mapping[str, Figure]) -> list[Check]:
    checks: list[Check] = []

    def at_least(key: str, target: float, what: str) -> None:
        f = figures.get(key)
        checks.append(
            Check(
                f"{what} ≥ {target:,.0f} {f.unit if f else ''}".strip(),
                f"{f.value:,.0f}" if f else "not measured",
                None if f is None else f.value >= target,
            )
        )

    def p99_at_most(key: str, target_ms: float, what: str) -> None:
        f = figures.get(key)
        checks.append(
            Check(
                f"{what} p99 ≤ {target_ms:g} ms",
                f"{f.result.p99_ms:.1f} ms" if f else "not measured",
                None if f is None else f.result.p99_ms <= target_ms,
            )
        )

    at_least("append.own.c32", 3_500, "append 1 event at c32")
    p99_at_most("append.own.c32", 15, "append 1 event at c32")
    at_least("batch100.c4", 40_000, "100-event batches (c4)")
    at_least("read50.c16", 2_500, "ReadStream of 50 at c16")
    p99_at_most("read50.c16", 8, "ReadStream of 50 at c16")
    for stat in ("p50", "p99"):
        small, big = figures.get("read50.c1"), figures.get("read50.big.c1")
        if small is None or big is None:
            checks.append(Check(f"read-50 {stat} large / small ≤ 1.5×", "not measured", None))
            continue
        ratio = getattr(big.result, f"{stat}_ms") / getattr(small.result, f"{stat}_ms")
        checks.append(
            Check(f"read-50 c1 {stat}, large table / small ≤ 1.5×", f"{ratio:.2f}×", ratio <= 1.5)
        )
    return checks
