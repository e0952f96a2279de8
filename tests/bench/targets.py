"""The issues' targets (2-core machine) and each figure's same-run baseline."""

from __future__ import annotations

from collections.abc import Mapping

from tests.bench.auth_figures import (
    CONCURRENCIES,
    KINDS,
    TARGET_RATIO,
    auth_key,
    comparisons,
    parse_key,
)
from tests.bench.chain_figures import CHAIN, NOCHAIN
from tests.bench.checks import (
    Check,
    cpu_per_call_ratio,
    p50_budget,
    p99_ratio,
    pg_cpu_check,
    throughput_ratio,
)
from tests.bench.effective_appends import issue12_append_checks
from tests.bench.measure import Figure
from tests.bench.peer_figures import COMPARISONS
from tests.bench.peer_figures import TARGET_RATIO as PEER_RATIO
from tests.bench.phase_chain import issue13_chain_checks
from tests.bench.time_travel_rows import time_travel_checks

__all__ = ["Check", "baseline_of", "check_targets", "issue11_checks"]


def baseline_of(key: str) -> str | None:
    """The baseline figure a figure is compared with: appends with the raw insert
    at the same concurrency (batches: the next measured one up), reads with echo."""
    auth = parse_key(key)
    if auth is not None:  # the secure instance's figure against the plaintext one's, same round
        kind_, config, c, r = auth
        return auth_key(kind_, "off", c, r) if config != "off" else None
    if key == CHAIN:  # issue 13: the same appends without the hash chain
        return NOCHAIN
    kind, _, rest = key.partition(".")
    conc = key.rsplit(".c", 1)[-1] if ".c" in key else ""
    if kind in ("append", "shared8"):
        return f"insert.c{conc}"
    if kind == "batch100":  # c4: the same rows in one INSERT ... SELECT FROM unnest (issue 11)
        return {"1": "insert.c1", "4": "unnest100.c4"}.get(conc)
    if kind in ("read50", "read1000"):
        return f"echo.c{conc}" if not rest.startswith("big") else f"echo.after-load.c{conc}"
    if kind in ("echo-bare", "stream50", "stream1000", "echo-page50"):
        return f"echo.c{conc}"
    if kind == "stream50-bare":
        return f"stream50.c{conc}"
    # Reads in pages: the same bytes with no work (one 50-event page; one 1,000-event page).
    if kind == "read50b":
        return f"echo-page50.c{conc}"
    if kind == "read1000b":
        return f"echo-page1000.c{conc}"
    if kind == "echo-page1000":
        return f"stream1000.c{conc}"
    # The fund services and allocation: the echo measured in their own phase.
    if kind == "visible":  # issue 11: loaded p99 against the idle one of the same run
        return f"visible-idle.c{conc}"
    if kind in ("fundstate", "stateat", "snapshot", "visible-lag", "visible-idle"):
        return f"echo.funds.c{conc}"
    if kind in ("preview", "commit"):
        return f"echo.alloc.c{conc}"
    return None


def check_targets(figures: Mapping[str, Figure]) -> list[Check]:
    checks: list[Check] = []
    issue = 2

    def at_least(key: str, target: float, what: str) -> None:
        f = figures.get(key)
        checks.append(
            Check(
                f"{what} ≥ {target:,.0f} {f.unit if f else ''}".strip(),
                f"{f.value:,.0f}" if f else "not measured",
                None if f is None else f.value >= target,
                issue,
            )
        )

    def p99_at_most(key: str, target_ms: float, what: str) -> None:
        f = figures.get(key)
        if f is not None and f.result.calls == 0:  # every call outlasted the window
            checks.append(
                Check(f"{what} p99 ≤ {target_ms:g} ms", "no call ended in the window", False, issue)
            )
            return
        checks.append(
            Check(
                f"{what} p99 ≤ {target_ms:g} ms",
                f"{f.result.p99_ms:.1f} ms" if f else "not measured",
                None if f is None else f.result.p99_ms <= target_ms,
                issue,
            )
        )

    def ratio_at_least(key: str, base: str, target: float, what: str) -> None:
        f, b = figures.get(key), figures.get(base)
        ok = f is not None and b is not None and b.value > 0
        ratio = f.value / b.value if ok and f is not None and b is not None else 0.0
        checks.append(
            Check(
                f"{what} ≥ {target:g}× {base}",
                f"{ratio:.3f}×" if ok else "not measured",
                ratio >= target if ok else None,
                issue,
            )
        )

    at_least("append.own.c32", 3_500, "append 1 event at c32")
    p99_at_most("append.own.c32", 15, "append 1 event at c32")
    at_least("batch100.c4", 40_000, "100-event batches (c4)")
    at_least("read50.c16", 2_500, "ReadStream of 50 at c16, one event per message")
    p99_at_most("read50.c16", 8, "ReadStream of 50 at c16, one event per message")
    at_least("read50b.c16", 2_500, "ReadStream of 50 at c16, in pages")
    p99_at_most("read50b.c16", 8, "ReadStream of 50 at c16, in pages")
    for stat in ("p50", "p99"):
        small, big = figures.get("read50.c1"), figures.get("read50.big.c1")
        if small is None or big is None:
            checks.append(Check(f"read-50 {stat} large / small ≤ 1.5×", "not measured", None))
            continue
        ratio = getattr(big.result, f"{stat}_ms") / getattr(small.result, f"{stat}_ms")
        checks.append(
            Check(f"read-50 c1 {stat}, large table / small ≤ 1.5×", f"{ratio:.2f}×", ratio <= 1.5)
        )
    issue = 3
    p99_at_most("fundstate.c16", 5, "GetFundState at c16")
    ratio_at_least("fundstate.c16", "echo.funds.c16", 0.6, "GetFundState at c16, calls/s")
    p99_at_most("stateat.c1", 15, "GetFundStateAt, 49 events replayed, c1")
    p99_at_most("snapshot.c1", 30, "CreateSnapshot, c1")
    p99_at_most("visible.c1", 50, "append → visible in GetFundState, c1, background load")
    issue = 4
    p99_at_most("preview.c1", 20, "PreviewReallocation, 50 companies, c1")
    p99_at_most("commit.c1", 40, "CommitReallocation, 50 companies, c1")
    issue = 10
    found = {(c.kind, c.concurrency): c for c in comparisons(figures)}
    for kind in KINDS:
        for conc in CONCURRENCIES:
            what = f"{KINDS[kind]}, c{conc}: calls/s with authentication on / off (both TLS)"
            comparison = found.get((kind, conc))
            checks.append(
                Check(
                    f"{what} ≥ {TARGET_RATIO:g}× (median of rounds)",
                    f"{comparison.auth_ratio:.3f}× (TLS + auth / plaintext {comparison.ratio:.3f}×)"
                    if comparison
                    else "not measured",
                    comparison.auth_ratio >= TARGET_RATIO if comparison else None,
                    issue,
                )
            )
    checks += issue11_checks(figures)
    checks += issue12_append_checks(figures)
    checks += time_travel_checks(figures)
    checks += issue13_chain_checks(figures)
    return checks


def issue11_checks(figures: Mapping[str, Figure]) -> list[Check]:
    """Issue 11's targets, each a ratio to a baseline of the same run (checks.py), in the
    order of the issue's table."""
    i = 11
    append_c32 = "append 1 event, c32"
    checks = [
        throughput_ratio(figures, "append.own.c32", "echo.c32", 0.6, append_c32, i),
        cpu_per_call_ratio(figures, "append.own.c32", "echo.c32", 1.7, append_c32, i),
    ]
    for conc in (8, 32):  # c8: the issue's own measurement; c32: the headline append figure
        checks.append(pg_cpu_check(figures, f"append.own.c{conc}", f"insert.c{conc}", 3.0, i))
    checks += [
        p50_budget(figures, "append.own.c1", "echo.c1", "insert.c1", 3, i),
        throughput_ratio(
            figures, "batch100.c4", "unnest100.c4", 0.1, "100-event batches c4, events/s", i
        ),
        throughput_ratio(
            figures, "read50b.c16", "echo-page50.c16", 0.6, "ReadStream 50 c16, pages", i
        ),
        throughput_ratio(
            figures, "read1000b.c1", "echo-page1000.c1", 0.5, "ReadStream 1,000 c1, pages", i
        ),
        throughput_ratio(figures, "fundstate.c16", "echo.funds.c16", 0.8, "GetFundState c16", i),
        cpu_per_call_ratio(figures, "fundstate.c16", "echo.funds.c16", 1.2, "GetFundState c16", i),
        p99_ratio(
            figures,
            "visible.c1",
            "visible-idle.c1",
            3.0,
            "append → visible c1, half the sustainable append rate flowing,",
            i,
        ),
    ]
    for peer in COMPARISONS:  # phase peer: the eventsourcing library, in process, same run
        what = f"{peer.what}, calls/s"
        checks.append(throughput_ratio(figures, peer.ours, peer.theirs, PEER_RATIO, what, i))
    return checks
