"""Issue 11's checks: every target a ratio to a baseline of the same run, with the server's
CPU per call beside every figure (pure functions on synthetic figures; no servers, no timing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fundledger.eventstore.v1 import eventstore_pb2 as pb

from tests.bench.measure import Figure
from tests.bench.peer_figures import COMPARISONS, get_key, save_key
from tests.bench.peer_threads import PEER
from tests.bench.pg_work import RAW_INSERTED, pg_work
from tests.bench.phase_workers import workers_key
from tests.bench.read_pages import events_in, read_request
from tests.bench.report import render, write_json
from tests.bench.server_cpu import cpu_us_per_call, server_group
from tests.bench.stats import Measurement
from tests.bench.targets import baseline_of, check_targets, issue11_checks
from tests.bench.visibility import background_rate


def figure(
    key: str,
    per_second: float,
    *,
    cpu: dict[str, float] | None = None,
    p50: float = 1.0,
    p99: float = 2.0,
    seconds: float = 2.0,
    events_per_call: int = 1,
    pg_cpu_seconds: float | None = None,
) -> Figure:
    calls = int(per_second * seconds)
    result = Measurement(calls, 0, seconds, per_second, p50, p99, p50, 10.0, "")
    unit = "events/s" if events_per_call > 1 else "calls/s"
    pg = None
    if pg_cpu_seconds is not None:
        events = calls * events_per_call
        pg = pg_work(
            {RAW_INSERTED: 0.0},
            {RAW_INSERTED: float(events)},
            events=events,
            counted_by=RAW_INSERTED,
            cpu_seconds=pg_cpu_seconds,
        )
    return Figure(key, key, unit, 1, events_per_call, result, cpu or {}, None, pg)


def every_baseline() -> dict[str, Figure]:
    """One run with every figure an issue-11 target reads."""
    figures = [
        figure("echo.c1", 2_000, cpu={"echo": 40}, p50=0.5),
        figure("echo.c32", 1_000, cpu={"echo": 40}),  # 400 µs per call
        figure("insert.c1", 1_500, p50=0.3, pg_cpu_seconds=0.6),
        figure("insert.c8", 4_000, pg_cpu_seconds=1.6),
        figure("insert.c32", 5_000, pg_cpu_seconds=2.0),
        figure("append.own.c1", 250, cpu={"event-store": 30}, p50=4.0, pg_cpu_seconds=0.5),
        figure("append.own.c8", 900, cpu={"event-store": 90}, pg_cpu_seconds=1.8),
        figure("append.own.c32", 700, cpu={"event-store": 91}, pg_cpu_seconds=1.4),
        figure("unnest100.c4", 40_000, events_per_call=100, pg_cpu_seconds=1.0),
        figure("batch100.c4", 5_000, cpu={"event-store": 80}, events_per_call=100),
        figure("echo-page50.c16", 1_000, cpu={"echo": 50}),
        figure("read50b.c16", 700, cpu={"event-store": 95}),
        figure("echo-page1000.c1", 200, cpu={"echo": 30}),
        figure("read1000b.c1", 60, cpu={"event-store": 50}),
        figure("echo.funds.c16", 2_000, cpu={"echo": 80}),  # 400 µs per call
        figure("fundstate.c16", 1_700, cpu={"projector": 85}),  # 500 µs per call
        figure("visible-idle.c1", 100, cpu={"projector": 10}, p99=12.0),
        figure("visible.c1", 60, cpu={"projector": 40}, p99=30.0),
        figure(save_key(8), 400, cpu={PEER: 80}),
        figure(get_key(50), 300, cpu={PEER: 60}),
        figure("read50b.c1", 500, cpu={"event-store": 40}),
    ]
    return {f.key: f for f in figures}


def by_target(figures: dict[str, Figure]) -> dict[str, tuple[float | None, bool | None]]:
    return {c.target: (c.value, c.passed) for c in issue11_checks(figures)}


def value_of(found: dict[str, tuple[float | None, bool | None]], *words: str) -> tuple[float, bool]:
    matches = [v for target, v in found.items() if all(w in target for w in words)]
    assert len(matches) == 1, (words, list(found))
    value, passed = matches[0]
    assert value is not None
    assert passed is not None
    return value, passed


def expect(
    found: dict[str, tuple[float | None, bool | None]],
    words: tuple[str, ...],
    value: float,
    passed: bool,
) -> None:
    got, verdict = value_of(found, *words)
    assert got == pytest.approx(value)
    assert verdict is passed


def test_server_cpu_per_call_is_the_serving_groups_cpu_seconds_over_its_calls() -> None:
    # 50% of a core for 2 s is 1 s of CPU; over 1,000 calls, 1,000 µs each.
    append = figure("append.own.c32", 500, cpu={"event-store": 50, "echo": 99, "postgres": 70})
    assert cpu_us_per_call(append) == pytest.approx(1_000)
    assert server_group("fundstate.c16") == "projector"
    assert server_group("echo-page1000.c1") == "echo"
    assert server_group("echo-bare.c16") == "echo-bare"
    assert server_group(save_key(8)) == PEER
    assert server_group("read50b.c16") == "event-store"
    assert server_group(workers_key("append", 2, 1)) == "event-store-w2"
    assert server_group(workers_key("state", 1, 0)) == "projector-w1"
    # Raw PostgreSQL baselines have no server of ours; a figure without calls has no per call.
    assert cpu_us_per_call(figure("insert.c8", 1_000, cpu={"postgres": 90})) is None
    assert cpu_us_per_call(figure("unnest100.c4", 100, cpu={"postgres": 90})) is None
    assert cpu_us_per_call(figure("read50.c1", 0, cpu={"event-store": 10})) is None
    # A probe that saw none of the serving processes' CPU says nothing, not "free".
    assert cpu_us_per_call(figure("read50.c1", 100, cpu={"event-store": 0.0})) is None


def test_every_issue_11_target_is_a_ratio_to_its_baseline_of_the_same_run() -> None:
    found = by_target(every_baseline())
    expect(found, ("append 1 event, c32 ≥", "echo.c32"), 0.7, True)
    # 91% over 700/s = 1,300 µs per append against the echo's 400 µs.
    expect(found, ("append 1 event, c32: server CPU",), 3.25, False)
    # PostgreSQL: 1.8 s / 1,800 events = 1 ms per append vs 1.6 s / 8,000 = 0.2 ms per insert.
    expect(found, ("PostgreSQL", "append.own.c8"), 5.0, False)
    # p50 4.0 ms against a budget of 0.5 + 3 × 0.3 = 1.4 ms.
    expect(found, ("append.own.c1 p50",), 4.0 / 1.4, False)
    expect(found, ("100-event batches",), 0.125, True)
    expect(found, ("ReadStream 50 c16",), 0.7, True)
    expect(found, ("ReadStream 1,000 c1",), 0.3, False)
    expect(found, ("GetFundState c16 ≥",), 0.85, True)
    expect(found, ("GetFundState c16: server CPU",), 1.25, False)
    expect(found, ("append → visible",), 2.5, True)
    expect(found, ("8-thread save",), 2.25, True)
    expect(found, ("get of 50 events",), 500 / 300, True)
    assert len(found) == 13


def test_each_check_carries_its_bound_and_the_figures_it_compares() -> None:
    checks = {c.target: c for c in issue11_checks(every_baseline())}
    budget = next(c for t, c in checks.items() if "p50" in t)
    assert (budget.limit, budget.at_most) == (1.0, True)
    assert budget.figures == ("append.own.c1", "echo.c1", "insert.c1")
    batches = next(c for t, c in checks.items() if "batches" in t)
    assert (batches.limit, batches.at_most, batches.figures) == (
        0.1,
        False,
        ("batch100.c4", "unnest100.c4"),
    )
    peer = [c for c in checks.values() if c.figures[1] in (save_key(8), get_key(50))]
    assert [c.figures for c in peer] == [(p.ours, p.theirs) for p in COMPARISONS]
    assert {p.ours for p in COMPARISONS} == {"append.own.c8", "read50b.c1"}


def test_the_p50_budget_and_the_p99_ratio_pass_and_fail_on_their_bounds() -> None:
    figures = every_baseline()
    figures["append.own.c1"] = figure("append.own.c1", 700, p50=1.4)
    figures["visible.c1"] = figure("visible.c1", 60, p99=36.5)
    found = by_target(figures)
    expect(found, ("append.own.c1 p50",), 1.0, True)
    assert value_of(found, "append → visible")[1] is False  # 3.04×
    figures["visible.c1"] = figure("visible.c1", 0, p99=0.0)  # every call outlasted the window
    visible = next(c for c in issue11_checks(figures) if "visible" in c.target)
    assert (visible.actual, visible.passed, visible.value) == (
        "no call ended in the window",
        False,
        None,
    )


def test_a_target_whose_figures_were_not_measured_says_so() -> None:
    figures = every_baseline()
    for key in ("unnest100.c4", "echo.c32", "visible-idle.c1"):
        del figures[key]
    checks = [c for c in issue11_checks(figures) if set(c.figures) & {"unnest100.c4", "echo.c32"}]
    checks += [c for c in issue11_checks(figures) if "visible-idle.c1" in c.figures]
    assert len(checks) == 4
    assert {(c.actual, c.passed, c.value) for c in checks} == {("not measured", None, None)}


def test_the_baselines_of_the_new_figures() -> None:
    assert baseline_of("batch100.c4") == "unnest100.c4"
    assert baseline_of("batch100.c1") == "insert.c1"
    assert baseline_of("read1000b.c1") == "echo-page1000.c1"
    assert baseline_of("read50b.c16") == "echo-page50.c16"
    assert baseline_of("visible.c1") == "visible-idle.c1"
    assert baseline_of("unnest100.c4") is None


def test_the_table_and_the_json_give_the_server_cpu_per_call(tmp_path: Path) -> None:
    figures = every_baseline()
    text = render(list(figures.values()), check_targets(figures))
    assert "µs/call" in text.splitlines()[0]
    row = next(line for line in text.splitlines() if line.startswith("append.own.c32 "))
    assert " 1,300 " in row
    assert "targets (issue 11" in text
    path = write_json(tmp_path, list(figures.values()), check_targets(figures), {})
    document = json.loads(path.read_text())
    rows = {row["key"]: row for row in document["figures"]}
    assert rows["append.own.c32"]["server_cpu_us_per_call"] == pytest.approx(1_300)
    assert rows["insert.c32"]["server_cpu_us_per_call"] is None
    issue11 = [t for t in document["targets"] if t["issue"] == 11]
    assert all("value" in t and "limit" in t and t["figures"] for t in issue11)


def test_the_loaded_visibility_runs_at_half_the_sustainable_rate() -> None:
    assert background_rate(stored=900.0, applied=620.0) == 310.0  # the projector is slower
    assert background_rate(stored=400.0, applied=2_000.0) == 200.0
    assert background_rate(stored=0.0, applied=0.0) == 10.0  # never nothing at all


def test_reads_ask_for_one_event_per_message_only_when_told() -> None:
    single = read_request("s", 50, batch_size=0, one_per_message=True)
    paged = read_request("s", 50, batch_size=0, one_per_message=False)
    assert (single.one_per_message, single.batch_size) == (True, 0)
    assert (paged.one_per_message, paged.batch_size) == (False, 0)  # the server's default page
    page = pb.ReadStreamResponse()
    page.events.add().stream_id = "s"
    page.events.add().stream_id = "s"
    one = pb.ReadStreamResponse()
    one.event.stream_id = "s"
    assert (events_in(page), events_in(one), events_in(pb.ReadStreamResponse())) == (2, 1, 0)
