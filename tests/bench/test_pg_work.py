"""PostgreSQL work per event: the delta arithmetic, the table line and the issue-11 check
(made-up counters; nothing is timed)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bench.measure import Figure
from tests.bench.pg_work import APPENDED, RAW_INSERTED, SNAPSHOT_SQL, PgWork, describe, pg_work
from tests.bench.report import render, write_json
from tests.bench.stats import Measurement
from tests.bench.targets import check_targets

BEFORE = {
    "xact_commit": 1_000.0,
    "xact_rollback": 10.0,
    "tup_returned": 50_000.0,
    "tup_fetched": 20_000.0,
    "tup_inserted": 3_000.0,
    "tup_updated": 2_000.0,
    "tup_deleted": 0.0,
    "head_updates": 500.0,
    "log_head_updates": 400.0,
    "event_ids_inserted": 700.0,
    "raw_inserted": 0.0,
    "wal_bytes": 1_000_000.0,
}


def _after(**added: float) -> dict[str, float]:
    return {key: value + added.get(key, 0.0) for key, value in BEFORE.items()}


def _append_work(events: int = 1_000, cpu_seconds: float = 1.1) -> PgWork:
    # 800 appends as the statistics counted them (they trail the clients' 1,000).
    after = _after(
        xact_commit=1_400,
        xact_rollback=40,
        tup_returned=16_000,
        tup_fetched=5_600,
        tup_inserted=2_400,
        tup_updated=2_400,
        head_updates=1_600,
        event_ids_inserted=800,
        wal_bytes=1_200_000,
    )
    return pg_work(BEFORE, after, events=events, counted_by=APPENDED, cpu_seconds=cpu_seconds)


def test_statistics_per_event_are_divided_by_the_events_they_counted() -> None:
    work = _append_work()
    assert work.deltas["xact_commit"] == 1_400
    assert work.counted_events == 800
    assert work.per_event["xacts"] == 1_440 / 800
    assert work.per_event["tuples_read"] == 21_600 / 800
    assert work.per_event["tuples_inserted"] == 3.0
    assert work.per_event["tuples_updated"] == 3.0
    assert work.per_event["head_updates"] == 2.0


def test_wal_and_cpu_per_event_are_divided_by_the_clients_events() -> None:
    work = _append_work(events=1_000, cpu_seconds=1.1)
    assert work.per_event["wal_bytes"] == 1_200.0
    assert abs(work.per_event["cpu_ms"] - 1.1) < 1e-12


def test_without_a_count_of_its_own_the_clients_count_is_used() -> None:
    after = _after(xact_commit=2_000)
    work = pg_work(BEFORE, after, events=1_000, counted_by=RAW_INSERTED, cpu_seconds=0.0)
    assert work.counted_events == 0
    assert work.per_event["xacts"] == 2.0


def test_no_events_gives_zeros_not_a_division_error() -> None:
    work = pg_work(BEFORE, _after(), events=0, counted_by=APPENDED, cpu_seconds=0.5)
    assert set(work.per_event.values()) == {0.0}


def test_the_line_shows_each_count_and_the_cpu_ratio_to_the_baseline() -> None:
    raw = pg_work(
        BEFORE, _after(raw_inserted=1_000, xact_commit=1_000), events=1_000,
        counted_by=RAW_INSERTED, cpu_seconds=0.2,
    )  # fmt: skip
    line = describe(_append_work(), raw, "insert.c8")
    assert line == (
        "pg per event: 1.80 xacts, 1,200 B WAL, 27.0 tuples read, 2.00 head UPDATEs, "
        "1.100 ms CPU (5.5× insert.c8's)"
    )
    assert "×" not in describe(raw)


def test_the_snapshot_reads_counters_without_scanning_the_statistics_views() -> None:
    assert "pg_stat_user_tables" not in SNAPSHOT_SQL
    assert "pg_stat_get_tuples_updated(to_regclass('eventstore.streams'))" in SNAPSHOT_SQL
    assert "pg_current_wal_lsn()" in SNAPSHOT_SQL


def _figure(key: str, cpu_pct: float, work: PgWork | None) -> Figure:
    result = Measurement(1_000, 0, 1.0, 1_000.0, 1.0, 2.0, 1.2, 50.0, "")
    return Figure(key, key, "calls/s", 8, 1, result, {"postgres": cpu_pct}, None, work)


def _figures() -> dict[str, Figure]:
    raw = pg_work(
        BEFORE, _after(raw_inserted=1_000, xact_commit=1_000), events=1_000,
        counted_by=RAW_INSERTED, cpu_seconds=0.2,
    )  # fmt: skip
    return {
        "insert.c8": _figure("insert.c8", 20.0, raw),
        "append.own.c8": _figure("append.own.c8", 110.0, _append_work()),
        "echo.c1": _figure("echo.c1", 0.0, None),
    }


def test_the_table_has_a_pg_line_under_each_figure_that_counted() -> None:
    figures = _figures()
    text = render(list(figures.values()), check_targets(figures))
    lines = text.splitlines()
    below = lines[lines.index(next(x for x in lines if x.startswith("append.own.c8"))) + 1]
    assert below.startswith("    pg per event: 1.80 xacts")
    assert below.endswith("(5.5× insert.c8's)")
    echo_at = lines.index(next(x for x in lines if x.startswith("echo.c1")))
    assert not lines[echo_at + 1].startswith("    pg per event")


def test_the_issue_11_check_compares_cpu_per_event_with_the_raw_insert() -> None:
    checks = [c for c in check_targets(_figures()) if c.issue == 11]
    c8 = next(c for c in checks if "append.own.c8" in c.target)
    assert (c8.actual, c8.passed) == ("5.50×", False)
    c32 = next(c for c in checks if "append.own.c32" in c.target)
    assert (c32.actual, c32.passed) == ("not measured", None)


def test_the_json_holds_the_deltas_per_event_and_the_ratio(tmp_path: Path) -> None:
    figures = _figures()
    path = write_json(tmp_path, list(figures.values()), check_targets(figures), {})
    rows = {row["key"]: row for row in json.loads(path.read_text())["figures"]}
    append = rows["append.own.c8"]
    assert append["pg"]["per_event"]["head_updates"] == 2.0
    assert append["pg"]["deltas"]["wal_bytes"] == 1_200_000
    assert abs(append["pg_cpu_ratio"] - 5.5) < 1e-9
    assert rows["echo.c1"]["pg"] is None
