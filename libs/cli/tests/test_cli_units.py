"""Pure parts of the CLI, without servers: import planning, CSV, money, endpoints, state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fundledger_cli.bulk_import import (
    IMPORT_SOURCE,
    event_id_for,
    parse_input,
    plan_batches,
    summarize,
)
from fundledger_cli.endpoints import FROM_DEFAULT, FROM_FILE, FROM_OPTION, resolve_endpoints
from fundledger_cli.errors import CliError, ExitCode
from fundledger_cli.import_state import ImportState, load_state
from fundledger_cli.reallocation_csv import parse_proposals
from fundledger_cli.render import bps_percent, cents
from fundledger_cli.values import fund_stream_id, parse_time


def line(stream: str, event_type: str = "CAPITAL_CALLED", **extra: object) -> bytes:
    body: dict[str, object] = {"stream_id": stream, "event_type": event_type}
    body["data"] = extra.pop("data", {"amount_cents": 100})
    body.update(extra)
    return json.dumps(body).encode()


def test_versions_are_assigned_per_stream_in_file_order() -> None:
    parsed = parse_input([line("fund-a"), line("fund-b"), b"", line("fund-a"), line("fund-a")])
    assert parsed.errors == []
    assert {s: [(e.line, e.version) for e in evs] for s, evs in parsed.streams.items()} == {
        "fund-a": [(1, 1), (4, 2), (5, 3)],
        "fund-b": [(2, 1)],
    }
    assert parsed.event_count == 4


def test_event_ids_are_deterministic_and_depend_on_stream_version_and_content() -> None:
    first = parse_input([line("fund-a"), line("fund-a")])
    again = parse_input([line("fund-a"), line("fund-a")])
    ids = [e.event.event_id for e in first.streams["fund-a"]]
    assert ids == [e.event.event_id for e in again.streams["fund-a"]]
    assert ids[0] != ids[1]  # same content, other version
    content = {"a": 1}
    assert event_id_for("fund-a", 1, content) != event_id_for("fund-b", 1, content)
    assert event_id_for("fund-a", 1, content) != event_id_for("fund-a", 1, {"a": 2})
    # Key order does not change an id.
    assert event_id_for("s-1", 1, {"a": 1, "b": 2}) == event_id_for("s-1", 1, {"b": 2, "a": 1})


def test_explicit_event_ids_are_kept_and_repeats_refused() -> None:
    given = "7b7c9b5e-0c57-4c39-9d5e-2a1f3e3b2a10"
    parsed = parse_input([line("fund-a", event_id=given), line("fund-b", event_id=given)])
    assert parsed.streams["fund-a"][0].event.event_id == given
    assert [str(e) for e in parsed.errors] == ["line 2: event_id: repeats the event id of line 1"]


def test_every_bad_line_is_reported_with_its_field() -> None:
    parsed = parse_input(
        [
            line("fund-a", data={"amount_cents": 10.5}),
            line("Fund A"),
            line("fund-a", occurred_at="2020-01-01"),
            line("fund-a", ocurred_at="2020-01-01Z"),
            b"{not json",
            line("fund-a", "FUND_CREATED", data={"name": "x", "currency": "EUR"}),
            line("fund-a", "SOMETHING_ELSE", data={"free": [1.5]}),
        ]
    )
    errors = [(e.where, e.field) for e in parsed.errors]
    assert errors == [
        ("line 1", "data.amount_cents"),
        ("line 2", "stream_id"),
        ("line 3", "occurred_at"),
        ("line 4", "ocurred_at"),
        ("line 5", "json"),
        ("line 6", "data.committed_capital_cents"),
    ]
    assert "integer number of cents" in parsed.errors[0].message
    # Non-fund event types pass as any JSON object.
    assert [e.line for e in parsed.streams["fund-a"]] == [7]


def test_occurred_at_is_kept_in_metadata_in_utc() -> None:
    parsed = parse_input([line("fund-a", occurred_at="2015-03-01T00:00:00+01:00", user_id="m")])
    event = parsed.streams["fund-a"][0].event
    # The file's author is kept too: the event store records the verified importer as the user.
    assert event.metadata == {"occurred_at": "2015-02-28T23:00:00Z", "imported_user_id": "m"}
    assert event.user_id == "m"
    assert IMPORT_SOURCE


def test_a_line_naming_its_author_twice_is_refused() -> None:
    parsed = parse_input([line("fund-a", user_id="m", metadata={"imported_user_id": "n"})])
    assert [(e.where, e.field) for e in parsed.errors] == [("line 1", "imported_user_id")]
    assert parsed.streams == {}


def test_batches_resume_after_done_and_keys_are_deterministic() -> None:
    events = parse_input([line("fund-a") for _ in range(5)]).streams["fund-a"]
    batches = plan_batches("fund-a", events, 0, 2)
    assert [(b.expected_version, b.first_version, b.last_version) for b in batches] == [
        (0, 1, 2),
        (2, 3, 4),
        (4, 5, 5),
    ]
    resumed = plan_batches("fund-a", events, 2, 2)
    assert resumed == batches[1:]
    assert plan_batches("fund-a", events, 5, 2) == []
    assert len({b.idempotency_key for b in batches}) == 3
    assert [b.idempotency_key for b in plan_batches("fund-a", events, 0, 2)] == [
        b.idempotency_key for b in batches
    ]
    # A different batch boundary is a different request, hence a different key.
    assert plan_batches("fund-a", events, 0, 3)[0].idempotency_key != batches[0].idempotency_key
    with pytest.raises(ValueError, match="batch size"):
        plan_batches("fund-a", events, 0, 0)


def test_summary_counts_what_is_left() -> None:
    parsed = parse_input([line("fund-a") for _ in range(5)] + [line("fund-b")])
    plans = summarize(parsed, {"fund-a": 3}, 2)
    assert [(p.stream_id, p.events, p.done, p.batches) for p in plans] == [
        ("fund-a", 5, 3, 1),
        ("fund-b", 1, 0, 1),
    ]


def test_state_of_another_input_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    ImportState(path, "old", {"fund-a": 3}).save()
    state, warning = load_state(path, "new")
    assert state.streams == {}
    assert warning is not None
    assert "different version of the input" in warning
    path.write_text("{broken")
    assert load_state(path, "new")[1] is not None


def test_cents_are_rendered_without_floats() -> None:
    assert cents(0) == "0.00"
    assert cents(5) == "0.05"
    assert cents(123456789) == "1,234,567.89"
    assert cents(-100) == "-1.00"
    assert cents(2**63 - 1) == "92,233,720,368,547,758.07"
    assert bps_percent(1234) == "12.34%"


def test_reallocation_csv() -> None:
    rows = parse_proposals("company_id,planned_reserves_cents\nc-1,150000000\n\n c-2 , -5\n")
    assert [(r.company_id, r.planned_reserves_cents) for r in rows] == [
        ("c-1", 150_000_000),
        ("c-2", -5),
    ]
    with pytest.raises(CliError) as bad:
        parse_proposals("company_id,planned_reserves_cents\nc-1,1.5\nc-2,1,000\n,5\n", "p.csv")
    assert bad.value.exit_code is ExitCode.USAGE
    assert bad.value.details == [
        "line 2: planned_reserves_cents: must be an integer number of cents, got '1.5'",
        "line 3: has more cells than the header (a thousands separator in planned_reserves_cents?)",
        "line 4: company_id: is empty",
    ]
    with pytest.raises(CliError, match="missing column"):
        parse_proposals("company,new_reserve\nc-1,5\n")


def test_endpoints_precedence(tmp_path: Path) -> None:
    defaults = resolve_endpoints(tmp_path, {})
    assert defaults.address("event-store") == "127.0.0.1:50051"
    assert defaults.sources["event-store"] == FROM_DEFAULT
    (tmp_path / "endpoints.json").write_text(
        json.dumps({"event-store": "127.0.0.1:1", "projector": "127.0.0.1:2"})
    )
    resolved = resolve_endpoints(tmp_path, {"projector": "127.0.0.1:3", "storage": None})
    assert resolved.address("event-store") == "127.0.0.1:1"
    assert resolved.sources["event-store"] == FROM_FILE
    assert resolved.address("projector") == "127.0.0.1:3"
    assert resolved.sources["projector"] == FROM_OPTION
    assert resolved.address("storage") == "127.0.0.1:50055"
    assert resolved.names()[:2] == ["event-store", "projector"]
    (tmp_path / "endpoints.json").write_text("[1]")
    with pytest.raises(CliError):
        resolve_endpoints(tmp_path, {})


def test_fund_ids_and_times() -> None:
    uid = "3f2c0c1e-5b8a-4f7e-9c1d-2a3b4c5d6e7f"
    assert fund_stream_id(uid) == f"fund-{uid}"
    assert fund_stream_id(f"fund-{uid}") == f"fund-{uid}"
    with pytest.raises(CliError):
        fund_stream_id("company-1")
    assert parse_time("2024-03-31T23:59:59Z", "--time").isoformat() == "2024-03-31T23:59:59+00:00"
    assert parse_time("2024-03-31", "--time").tzinfo is not None
    with pytest.raises(CliError):
        parse_time("yesterday", "--time")
