"""Phase peer's figures reach the report and the issue-11 targets (no timing, no servers)."""

from __future__ import annotations

import pytest

from tests.bench.measure import Figure
from tests.bench.peer_app import peer_env
from tests.bench.peer_figures import COMPARISONS, get_key, save_key
from tests.bench.peer_threads import PEER
from tests.bench.report import render
from tests.bench.settings import BenchSettings
from tests.bench.stats import Measurement
from tests.bench.targets import check_targets


def _figure(key: str, calls_per_second: float, cpu: dict[str, float]) -> Figure:
    result = Measurement(
        calls=int(calls_per_second),
        errors=0,
        seconds=1.0,
        calls_per_second=calls_per_second,
        p50_ms=1.0,
        p99_ms=2.0,
        mean_ms=1.0,
        client_cpu_pct=cpu.get(PEER, 0.0),
        first_error="",
    )
    return Figure(key, key, "calls/s", 1, 1, result, cpu, None)


def _peer_checks(figures: list[Figure]) -> dict[str, tuple[str, bool | None]]:
    checks = check_targets({f.key: f for f in figures})
    return {
        c.target: (c.actual, c.passed) for c in checks if c.issue == 11 and "library" in c.target
    }


def test_the_targets_compare_fundledger_with_the_library_of_the_same_run() -> None:
    figures = [
        _figure("append.own.c8", 900.0, {"event-store": 95.0}),
        _figure(save_key(8), 400.0, {PEER: 80.0, "postgres": 40.0}),
        _figure(COMPARISONS[1].ours, 500.0, {"event-store": 60.0}),
        _figure(get_key(50), 500.0, {PEER: 70.0}),
    ]
    found = _peer_checks(figures)
    assert len(found) == len(COMPARISONS) == 2
    save = next(v for k, v in found.items() if "append 1 event c8" in k and save_key(8) in k)
    read = next(v for k, v in found.items() if "ReadStream 50 c1" in k and get_key(50) in k)
    assert save == ("2.250×", True)
    assert read == ("1.000×", False)


def test_the_targets_say_not_measured_without_the_peer_phase() -> None:
    found = _peer_checks(
        [_figure("append.own.c8", 900.0, {}), _figure(COMPARISONS[1].ours, 500.0, {})]
    )
    assert sorted(found.values()) == [("not measured", None)] * 2


def test_the_report_shows_each_peer_figure_with_the_process_cpu() -> None:
    keys = [save_key(1), save_key(8), get_key(50), get_key(1000)]
    figures = [_figure(key, 100.0, {PEER: 73.0, "postgres": 21.0}) for key in keys]
    table = render(figures, check_targets({f.key: f for f in figures}))
    words = [line.split() for line in table.splitlines()]
    rows = {w[0]: " ".join(w) for w in words if w and w[0] in keys}
    assert sorted(rows) == sorted(keys)
    for row in rows.values():
        assert "73%" in row  # the server column: the benchmark's own process
        assert "21%" in row
    assert "targets (issue 11" in table


def test_peer_is_a_phase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNDLEDGER_BENCH_PHASES", "peer,appends,reads")
    assert BenchSettings.from_env().phases == ("reads", "appends", "peer")


def test_the_library_gets_the_runs_server_and_its_own_database() -> None:
    env = peer_env("postgresql://bench:s%40cret@127.0.0.1:55432/fundledger", "bench_peer")
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"]) == ("127.0.0.1", "55432")
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("bench", "s@cret")
    assert (env["POSTGRES_DBNAME"], env["POSTGRES_SCHEMA"]) == ("bench_peer", "")
    socket = peer_env("postgresql://postgres@/fundledger?host=/tmp/pg&port=5433", "x", "s")
    assert (socket["POSTGRES_HOST"], socket["POSTGRES_PORT"]) == ("/tmp/pg", "5433")
    assert (socket["POSTGRES_USER"], socket["POSTGRES_PASSWORD"]) == ("postgres", "")
    assert socket["POSTGRES_SCHEMA"] == "s"
