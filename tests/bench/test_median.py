"""The issue-11 report over several runs (median.py): every target's ratio in each run, the
median and its verdict, and the figures with their server CPU per call (no servers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench.measure import Figure
from tests.bench.median import load_run, main, median_of, render, results_path, target_rows
from tests.bench.report import write_json
from tests.bench.stats import Measurement
from tests.bench.targets import check_targets


def _figure(key: str, per_second: float, cpu: dict[str, float], p50: float = 1.0) -> Figure:
    result = Measurement(int(per_second), 0, 1.0, per_second, p50, 2 * p50, p50, 10.0, "")
    return Figure(key, key, "calls/s", 1, 1, result, cpu, None)


def _run(tmp_path: Path, name: str, append_c32: float, append_cpu: float) -> Path:
    """A run's results file with the append c32 target's figures (echo c32 at 1,000/s, 40%)."""
    figures = [
        _figure("echo.c32", 1_000.0, {"echo": 40.0}),
        _figure("append.own.c32", append_c32, {"event-store": append_cpu}),
    ]
    out = tmp_path / name
    return write_json(out, figures, check_targets({f.key: f for f in figures}), {})


@pytest.fixture
def three_runs(tmp_path: Path) -> list[Path]:
    # Throughput ratios 0.5, 0.7, 0.65; server CPU per call 1,600, 1,143, 1,077 µs (vs 400).
    return [
        _run(tmp_path, "a", 500.0, 80.0),
        _run(tmp_path, "b", 700.0, 80.0),
        _run(tmp_path, "c", 650.0, 70.0),
    ]


def test_the_median_is_taken_of_each_runs_ratio(three_runs: list[Path]) -> None:
    rows = {t.target: t for t in target_rows([load_run(p) for p in three_runs])}
    throughput = rows["append 1 event, c32 ≥ 0.6× echo.c32"]
    assert throughput.values == [pytest.approx(0.5), pytest.approx(0.7), pytest.approx(0.65)]
    assert throughput.median == pytest.approx(0.65)
    assert throughput.verdict == "PASS"  # though one run fell short
    cpu = rows["append 1 event, c32: server CPU per call ≤ 1.7× echo.c32's"]
    assert cpu.median == pytest.approx((80 / 700) / (40 / 1_000))  # 4.0×, 2.86×, 2.69×
    assert cpu.verdict == "FAIL"
    assert rows["GetFundState c16 ≥ 0.8× echo.funds.c16"].verdict == "n/a"  # not in these runs


def test_the_markdown_has_a_summary_and_a_table_per_compared_figures(
    three_runs: list[Path],
) -> None:
    text = render([load_run(p) for p in three_runs])
    lines = text.splitlines()
    assert lines[0] == "### Issue 11 targets: median of 3 runs"
    assert "| target | run 1 | run 2 | run 3 | median | median vs target |" in lines
    assert "| append 1 event, c32 ≥ 0.6× echo.c32 | 0.500× | 0.700× | 0.650× | 0.650× | PASS |" in (
        lines
    )
    # Both append-c32 targets read the same two figures: one table for them.
    assert lines.count("#### append.own.c32 vs echo.c32") == 1
    assert "| append.own.c32 | server CPU µs/call | 1,600 | 1,143 | 1,077 | 1,143 |" in lines
    assert "| echo.c32 | server CPU µs/call | 400 | 400 | 400 | 400 |" in lines
    every = lines[lines.index("#### Every figure (median of 3 runs)") :]
    assert "| append.own.c32 | 650 calls/s | 1.00 | 2.00 | 1,143 |" in every


def test_a_figure_missing_from_a_run_is_a_dash_and_the_others_make_the_median(
    tmp_path: Path, three_runs: list[Path]
) -> None:
    partial = write_json(tmp_path / "d", [_figure("echo.c32", 900.0, {"echo": 40.0})], [], {})
    runs = [load_run(p) for p in [*three_runs[:2], partial]]
    text = render(runs)
    assert "| append.own.c32 | calls/s | 500 | 700 | – | 600 |" in text.splitlines()
    assert "| append.own.c32 | server CPU µs/call | 1,600 | 1,143 | – | 1,371 |" in text


def test_server_cpu_per_call_shows_a_dash_where_a_run_could_not_measure_it(
    tmp_path: Path,
) -> None:
    unseen = _run(tmp_path, "e", 500.0, 0.0)  # the probe saw none of the server's CPU
    text = render([load_run(unseen)])
    assert "| append.own.c32 | server CPU µs/call | – | – |" in text.splitlines()
    assert median_of([None, None]) is None
    assert median_of([3.0, None, 1.0]) == 2.0


def test_main_prints_the_report_of_the_files_given(
    three_runs: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(p) for p in three_runs]) == 0
    assert "median of 3 runs" in capsys.readouterr().out
    assert main(["--runs", "0"]) == 2


def test_results_without_issue_11_values_still_load(tmp_path: Path) -> None:
    old = tmp_path / "old.json"  # written before checks carried their ratio
    old.write_text(
        json.dumps(
            {
                "figures": [],
                "targets": [{"target": "t", "actual": "0.5×", "passed": False, "issue": 11}],
            }
        )
    )
    [row] = target_rows([load_run(old)])
    assert (row.values, row.median, row.verdict) == ([None], None, "n/a")


def test_a_runs_results_file_is_the_one_its_output_names() -> None:
    output = [
        "  echo.c1   484 calls/s\n",
        "\n",
        "whole run 94 s; results in /work/main/.bench/results-20261207T081428Z.json\n",
    ]
    assert results_path(output) == Path("/work/main/.bench/results-20261207T081428Z.json")
    assert results_path(["bench: FUNDLEDGER_BENCH_PHASES: unknown ['x']\n"]) is None
