"""The ratio targets' report (issues 11, 12 and 13): every target over several full runs, their
median and its verdict.

    python -m tests.bench.median .bench/results-A.json .bench/results-B.json ...
    python -m tests.bench.median --runs 3      # make bench-median: N full runs, then the same

Prints markdown for docs/benchmarks.md: one summary table (each target's ratio in every
run, the median, PASS/FAIL of the median), then a table per target with the figures it
compares (value, p50, p99, server CPU per call, PostgreSQL CPU per event where counted),
and last every figure's medians. Each run's ratios are of figures of that same run (the
checks in its JSON, targets.py); the median is taken of those ratios, never of figures of
different runs. `--runs` also writes the markdown to .bench/median-<UTC time>.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.bench.checks import passes
from tests.bench.server_cpu import server_group
from tests.bench.settings import REPO_ROOT

ISSUE = 11
ISSUES = (11, 12, 13)
"""The issues whose targets are same-run ratios, reported by default."""
MAX_RUNS = 9
Row = dict[str, Any]


@dataclass(frozen=True)
class Run:
    name: str  # the results file's name
    commit: str
    checks: list[Row]  # the run's targets (Check as a dict)
    figures: dict[str, Row]  # key -> the figure's row


def load_run(path: Path) -> Run:
    document = json.loads(path.read_text())
    figures = {row["key"]: row for row in document.get("figures", [])}
    commit = str(document.get("machine", {}).get("commit", ""))
    return Run(path.name, commit, list(document.get("targets", [])), figures)


def median_of(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


@dataclass(frozen=True)
class TargetRow:
    target: str
    values: list[float | None]  # one per run
    median: float | None
    limit: float | None
    at_most: bool
    figures: tuple[str, ...]

    @property
    def verdict(self) -> str:
        if self.median is None or self.limit is None:
            return "n/a"
        return "PASS" if passes(self.median, self.limit, self.at_most) else "FAIL"


def target_rows(runs: Sequence[Run], issue: int = ISSUE) -> list[TargetRow]:
    """The issue's targets in the order the runs list them, each with every run's value."""
    order: list[str] = []
    found: dict[str, dict[int, Row]] = {}
    for index, run in enumerate(runs):
        for check in run.checks:
            if check.get("issue") != issue:
                continue
            name = str(check["target"])
            if name not in found:
                order.append(name)
                found[name] = {}
            found[name][index] = check
    rows = []
    for name in order:
        by_run = found[name]
        values = [
            _number(by_run[i].get("value")) if i in by_run else None for i in range(len(runs))
        ]
        any_check = next(iter(by_run.values()))
        rows.append(
            TargetRow(
                target=name,
                values=values,
                median=median_of(values),
                limit=_number(any_check.get("limit")),
                at_most=bool(any_check.get("at_most", False)),
                figures=tuple(any_check.get("figures", ())),
            )
        )
    return rows


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


# What is shown of a figure, per run: (label, how to read it from the row, format).
def _value(row: Row) -> float | None:
    return _number(row.get("value"))


def _latency(stat: str) -> Callable[[Row], float | None]:
    def read(row: Row) -> float | None:
        result = row.get("result") or {}
        return _number(result.get(stat)) if result.get("calls") else None

    return read


def _server_cpu(row: Row) -> float | None:
    return _number(row.get("server_cpu_us_per_call"))


def _pg_cpu(row: Row) -> float | None:
    pg = row.get("pg") or {}
    ms = _number((pg.get("per_event") or {}).get("cpu_ms"))
    return None if ms is None else ms * 1000


MEASURES: tuple[tuple[str, Callable[[Row], float | None], str], ...] = (
    ("p50 ms", _latency("p50_ms"), "{:,.2f}"),
    ("p99 ms", _latency("p99_ms"), "{:,.2f}"),
    ("server CPU µs/call", _server_cpu, "{:,.0f}"),
    ("PostgreSQL CPU µs/event", _pg_cpu, "{:,.0f}"),
)


def _always(label: str, key: str) -> bool:
    """Server CPU per call is shown for every figure a server of ours serves, a dash where
    the run could not measure it (so that a gap shows)."""
    return label == MEASURES[2][0] and server_group(key) is not None


def _cell(value: float | None, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}×"


def _table(head: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return lines


def figure_lines(runs: Sequence[Run], key: str) -> list[list[str]]:
    """A figure's rows: its value, latencies and CPU per call in each run, and the median."""
    rows = [run.figures.get(key) for run in runs]
    unit = next((str(r.get("unit", "")) for r in rows if r), "")
    lines = []
    for label, read, fmt in ((unit or "value", _value, "{:,.0f}"), *MEASURES):
        values = [read(r) if r else None for r in rows]
        if all(v is None for v in values) and not _always(label, key):
            continue  # e.g. no PostgreSQL counts, or no server of ours (a raw baseline)
        median = median_of(values)
        lines.append([key, label, *(_cell(v, fmt) for v in values), _cell(median, fmt)])
    return lines or [[key, "not measured", *("–" for _ in runs), "–"]]


def _issue_section(
    runs: Sequence[Run], issue: int, runs_head: list[str], runs_word: str
) -> list[str]:
    targets = target_rows(runs, issue)
    out = [f"### Issue {issue} targets: median of {len(runs)} {runs_word}", ""]
    out += [
        f"- run {i + 1}: `{run.name}`" + (f" (commit {run.commit})" if run.commit else "")
        for i, run in enumerate(runs)
    ]
    out.append("")
    body = [
        [t.target, *(_ratio(v) for v in t.values), _ratio(t.median), t.verdict] for t in targets
    ]
    out += _table(["target", *runs_head, "median", "median vs target"], body)
    # A table per set of figures compared (two targets may read the same ones).
    sections: dict[tuple[str, ...], list[TargetRow]] = {}
    for t in targets:
        sections.setdefault(t.figures, []).append(t)
    for figures, group in sections.items():
        out += ["", f"#### {' vs '.join(figures)}", ""]
        out += [f"- {t.target}: median {_ratio(t.median)}, {t.verdict}" for t in group]
        out.append("")
        rows = [line for key in figures for line in figure_lines(runs, key)]
        out += _table(["figure", "measure", *runs_head, "median"], rows)
    out.append("")
    return out


def render(runs: Sequence[Run], issues: Sequence[int] = ISSUES) -> str:
    runs_head = [f"run {i + 1}" for i in range(len(runs))]
    runs_word = "run" if len(runs) == 1 else "runs"
    out: list[str] = []
    for issue in issues:
        out += _issue_section(runs, issue, runs_head, runs_word)
    keys = list(dict.fromkeys(key for run in runs for key in run.figures))
    out += ["", f"#### Every figure (median of {len(runs)} {runs_word})", ""]
    rows = []
    for key in keys:
        values = [run.figures.get(key) for run in runs]
        cells = [key]
        for read, fmt in ((_value, "{:,.0f}"), *((m[1], m[2]) for m in MEASURES[:3])):
            cells.append(_cell(median_of([read(r) if r else None for r in values]), fmt))
        unit = next((str(r.get("unit", "")) for r in values if r), "")
        rows.append([cells[0], cells[1] + " " + unit, *cells[2:]])
    out += _table(["figure", "value", "p50 ms", "p99 ms", "server CPU µs/call"], rows)
    return "\n".join(out) + "\n"


RESULTS_LINE = re.compile(r"results in (\S+\.json)$")


def results_path(lines: Iterable[str]) -> Path | None:
    """The results file a run's output names last (run.py's closing line)."""
    found = None
    for line in lines:
        match = RESULTS_LINE.search(line.rstrip())
        if match:
            found = Path(match.group(1))
    return found


def run_bench(count: int, log: Callable[[str], None]) -> list[Path]:
    """`count` full runs of `python -m tests.bench`, one after another, their output passed
    through; the results files they wrote (named in their output: other runs on the machine
    may write into .bench meanwhile)."""
    paths = []
    for n in range(count):
        log(f"== bench run {n + 1} of {count}")
        lines: list[str] = []
        with subprocess.Popen(
            [sys.executable, "-m", "tests.bench"],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        ) as child:
            assert child.stdout is not None
            for line in child.stdout:
                log(line.rstrip("\n"))
                lines.append(line)
        path = results_path(lines)
        if child.returncode != 0 or path is None or not path.exists():
            log(f"== bench run {n + 1} failed (exit {child.returncode}); left out of the median")
            continue
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.median",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("results", nargs="*", type=Path, help="results-*.json of full runs")
    parser.add_argument(
        "--runs",
        type=int,
        default=None,
        help="run `python -m tests.bench` this many times first "
        "(default FUNDLEDGER_BENCH_RUNS, else 3, when no results are given)",
    )
    parser.add_argument(
        "--issue",
        type=int,
        action="append",
        help=f"report this issue's targets (repeatable; default {', '.join(map(str, ISSUES))})",
    )
    args = parser.parse_args(argv)
    count = args.runs
    if count is None and not args.results:
        count = int(os.environ.get("FUNDLEDGER_BENCH_RUNS", "3"))
    if count is not None and not 1 <= count <= MAX_RUNS:
        print(f"median: --runs must be 1..{MAX_RUNS}", file=sys.stderr)
        return 2
    paths = list(args.results)
    if count:
        paths += run_bench(count, lambda line: print(line, flush=True))
    if not paths:
        print("median: no results to combine", file=sys.stderr)
        return 1
    text = render([load_run(path) for path in paths], args.issue or ISSUES)
    print(text)
    if count:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        out = REPO_ROOT / ".bench" / f"median-{stamp}.md"
        out.write_text(text)
        print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
