"""`fundledger fund / snapshots / realloc` against the real stack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

Cli = Any  # conftest.CliDriver


def _invest(cli: Cli, fund_id: str) -> None:
    cli.run(
        "events",
        "append",
        fund_id,
        "-t",
        "INVESTMENT_MADE",
        "-d",
        '{"company_id":"c-1","amount_cents":123456789,"ownership_bps":1500}',
    )


def test_fund_show_renders_cents_as_tables(cli: Cli, created_fund: str) -> None:
    _invest(cli, created_fund)
    result = cli.run("fund", "show", created_fund, "--min-version", "4")
    out = result.stdout
    assert "Acme Ventures I" in out
    assert "100,000,000.00" in out  # committed
    assert "1,234,567.89" in out  # invested
    assert "c-1 Inc" in out
    assert "c-2 Inc" in out
    as_json = json.loads(cli.run("fund", "show", created_fund, "--json").stdout)
    assert as_json["state"]["version"] == "4"
    listed = cli.run("fund", "list", "--limit", "1000").stdout
    assert created_fund in listed


def test_fund_at_version_and_time(cli: Cli, created_fund: str) -> None:
    first = cli.events(created_fund)[0].recorded_at.ToJsonString()
    _invest(cli, created_fund)
    at_v3 = json.loads(cli.run("fund", "at", created_fund, "--version", "3", "--json").stdout)
    assert at_v3["version"] == "3"
    assert at_v3["state"].get("invested_cents", "0") == "0"
    at_time = cli.run("fund", "at", created_fund, "--time", first).stdout
    assert "version 1" in at_time
    assert cli.run("fund", "at", created_fund, expect=2).exit_code == 2


def test_unknown_fund_is_not_found(cli: Cli, fund_id: str) -> None:
    result = cli.run("fund", "at", fund_id, "--version", "1", expect=5)
    assert "NOT_FOUND" in result.output


def test_snapshots_take_and_list(cli: Cli, created_fund: str) -> None:
    taken = cli.run("snapshots", "take", created_fund, "--version", "2")
    assert "MANUAL" in taken.stdout
    listed = cli.run("snapshots", "list", created_fund).stdout
    assert "MANUAL" in listed
    assert "1 snapshot(s)" in listed


def _csv(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "proposal.csv"
    path.write_text("company_id,planned_reserves_cents\n" + rows)
    return path


def test_reallocation_preview_then_commit(cli: Cli, created_fund: str, tmp_path: Path) -> None:
    csv = _csv(tmp_path, "c-1,150000000\nc-2,250000000\n")
    preview = cli.run("realloc", "preview", created_fund, csv)
    assert "+1,500,000.00" in preview.stdout
    assert "HIGH_CONCENTRATION" in preview.stdout  # a warning: commit allowed
    assert "--expected-version 3" in preview.stdout
    assert cli.version(created_fund) == 3  # preview writes nothing

    args = (
        "realloc",
        "commit",
        created_fund,
        csv,
        "--expected-version",
        "3",
        "--reason",
        "Q3 review",
        "--user",
        "alice",
    )
    committed = cli.run(*args)
    assert "Committed:" in committed.stdout
    assert "version 3 -> 6" in committed.stdout
    types = [e.event_type for e in cli.events(created_fund)[3:]]
    assert types == ["RESERVE_ALLOCATED", "RESERVE_ALLOCATED", "REALLOCATION_COMMITTED"]
    assert "idempotent replay" in cli.run(*args).stdout
    assert cli.version(created_fund) == 6
    audit = cli.run("realloc", "audit", created_fund).stdout
    assert "Q3 review" in audit
    assert "3 -> 6" in audit

    stale = cli.run(
        "realloc",
        "commit",
        created_fund,
        csv,
        "--expected-version",
        "3",
        "--reason",
        "again",
        "--user",
        "bob",
        expect=4,
    )
    assert "ABORTED" in stale.output
    assert "current_version: 6" in stale.output


def test_blocked_reallocation_exits_non_zero(cli: Cli, created_fund: str, tmp_path: Path) -> None:
    csv = _csv(tmp_path, "c-1,600000000\nc-9,100\n")
    preview = cli.run("realloc", "preview", created_fund, csv, expect=1)
    assert "CAP_EXCEEDED" in preview.stdout
    assert "COMPANY_NOT_FOUND" in preview.stdout
    assert "blocked" in preview.output
    commit = cli.run(
        "realloc",
        "commit",
        created_fund,
        csv,
        "--expected-version",
        "3",
        "--reason",
        "r",
        "--user",
        "u",
        expect=4,
    )
    assert "FAILED_PRECONDITION" in commit.output
    assert "reason: REALLOCATION_BLOCKED" in commit.output
    assert cli.version(created_fund) == 3


def test_bad_csv_names_line_and_column(cli: Cli, created_fund: str, tmp_path: Path) -> None:
    csv = _csv(tmp_path, "c-1,1500.00\n")
    result = cli.run("realloc", "preview", created_fund, csv, expect=2)
    assert "line 2: planned_reserves_cents: must be an integer number of cents" in result.output
