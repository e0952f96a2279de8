"""The gate checker on hand-written locust stats CSVs (no stack)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.load.gates import (
    AGGREGATED,
    Gates,
    OperationGate,
    OperationStats,
    check,
    load_gates,
    read_stats,
)
from tests.load.operations import OPERATION_OF_METHOD, OPERATIONS
from tests.load.summary import table

HEADER = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
    "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
    "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"
)
GATES = Gates(
    max_error_rate=0.01,
    operations={
        "current_state": OperationGate(p95_ms=50, max_error_rate=0.01),
        "timeline": OperationGate(p95_ms=100, max_error_rate=0.01),
    },
)


def _row(kind: str, name: str, requests: int, failures: int, p95: float | str) -> str:
    p50 = p95 if isinstance(p95, str) else p95 / 2
    p99 = p95 if isinstance(p95, str) else p95 * 2
    return (
        f"{kind},{name},{requests},{failures},{p50},1.0,1.0,1.0,100,10.0,0.0,"
        f"{p50},{p50},{p50},{p50},{p95},{p95},{p95},{p99},{p99},{p99},{p99}"
    )


def _csv(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "run_stats.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def _stats(
    tmp_path: Path, current: tuple[int, int, float], timeline: tuple[int, int, float]
) -> dict[str, OperationStats]:
    total = current[0] + timeline[0], current[1] + timeline[1]
    return read_stats(
        _csv(
            tmp_path,
            _row(
                "/fundledger.projector.v1.ProjectorService/GetFundState", "current_state", *current
            ),
            _row(
                "/fundledger.snapshotter.v1.SnapshotterService/GetTimeline", "timeline", *timeline
            ),
            _row("", AGGREGATED, total[0], total[1], 60),
        )
    )


def test_passes_within_every_gate(tmp_path: Path) -> None:
    stats = _stats(tmp_path, (1000, 0, 40), (500, 1, 90))
    assert check(stats, GATES) == []
    assert stats["current_state"].methods == (
        "/fundledger.projector.v1.ProjectorService/GetFundState",
    )
    assert stats["current_state"].p95_ms == 40


def test_p95_at_or_above_the_gate_is_a_breach(tmp_path: Path) -> None:
    stats = _stats(tmp_path, (1000, 0, 50), (500, 0, 90))
    breaches = check(stats, GATES)
    assert [b.operation for b in breaches] == ["current_state"]
    assert "p95 50 ms >= 50 ms" in str(breaches[0])


def test_error_rate_above_the_gate_is_a_breach(tmp_path: Path) -> None:
    # 2 % on timeline (its own gate and the run's: 11 of 1500 < 1 % overall, so only its own).
    stats = _stats(tmp_path, (1000, 0, 10), (500, 10, 10))
    assert [b.operation for b in check(stats, GATES)] == ["timeline"]
    # Over the run-wide rate too.
    stats = _stats(tmp_path, (1000, 30, 10), (500, 0, 10))
    assert {b.operation for b in check(stats, GATES)} == {"current_state", AGGREGATED}


def test_a_gated_operation_without_requests_is_a_breach(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        _row("/fundledger.projector.v1.ProjectorService/GetFundState", "current_state", 10, 0, 5),
        _row("", AGGREGATED, 10, 0, 5),
    )
    breaches = check(read_stats(path), GATES)
    assert [(b.operation, b.message) for b in breaches] == [("timeline", "no requests")]


def test_no_requests_reads_as_na_and_breaks(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        _row("/x/Y", "current_state", 0, 0, "N/A"),
        _row("/x/Z", "timeline", 5, 0, 5),
        _row("", AGGREGATED, 5, 0, 5),
    )
    stats = read_stats(path)
    assert math.isnan(stats["current_state"].p95_ms)
    assert [b.operation for b in check(stats, GATES)] == ["current_state"]


def test_rows_of_one_name_merge_conservatively(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        _row("/a/One", "timeline", 10, 1, 20),
        _row("/a/Two", "timeline", 30, 0, 80),
    )
    op = read_stats(path)["timeline"]
    assert (op.requests, op.failures, op.p95_ms, op.methods) == (40, 1, 80, ("/a/One", "/a/Two"))


def test_the_gates_file_gates_every_scenario() -> None:
    gates = load_gates()
    assert set(gates.operations) == set(OPERATIONS)
    assert gates.max_error_rate == pytest.approx(0.01)
    # The defaults.
    assert gates.operations["current_state"].p95_ms == 50
    assert gates.operations["historical_state"].p95_ms == 200
    assert gates.operations["timeline"].p95_ms == 100
    assert gates.operations["snapshot_create"].p95_ms == 500
    assert len(set(OPERATION_OF_METHOD.values())) == len(OPERATION_OF_METHOD)


def test_the_summary_marks_breaches(tmp_path: Path) -> None:
    stats = _stats(tmp_path, (1000, 0, 70), (500, 0, 90))
    text = table(stats, GATES, check(stats, GATES))
    assert (
        "| current_state | GetFundState | 1000 | 0 | 35 | 70 | 140 | 10.0 | < 50 | FAIL |" in text
    )
    assert "| timeline | GetTimeline | 500 | 0 | 45 | 90 | 180 | 10.0 | < 100 | pass |" in text


def test_host_settings_parse_from_flags_and_environment() -> None:
    from tests.load.settings import LoadSettings

    env = {"FUNDLEDGER_LOADTEST_HOSTS": "event-store=a:1, projector=b:2"}
    settings = LoadSettings.parse(["--host", "storage=c:3"], env)
    assert settings.hosts == (("event-store", "a:1"), ("projector", "b:2"), ("storage", "c:3"))
    with pytest.raises(SystemExit):
        LoadSettings.parse(["--host", "storage"], {})
