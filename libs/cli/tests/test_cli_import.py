"""`fundledger events import`: bulk import of history against the real event store."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from fundledger_cli.bulk_import import ImportEvent, parse_input
from fundledger_cli.eventstore_ops import GrpcImportTarget
from fundledger_cli.import_runner import run_import
from fundledger_cli.import_state import default_state_path, load_state

Cli = Any  # conftest.CliDriver


def history(a: str, b: str) -> list[dict[str, object]]:
    created = {"committed_capital_cents": 5_000_000_000, "currency": "EUR"}
    return [
        {
            "stream_id": a,
            "event_type": "FUND_CREATED",
            "data": {"name": "A", **created},
            "occurred_at": "2015-01-10T09:00:00Z",
            "user_id": "migration",
        },
        {"stream_id": b, "event_type": "FUND_CREATED", "data": {"name": "B", **created}},
        {
            "stream_id": a,
            "event_type": "COMPANY_ADDED",
            "data": {"company_id": "acme", "name": "Acme GmbH"},
        },
        {"stream_id": a, "event_type": "CAPITAL_CALLED", "data": {"amount_cents": 100}},
        {"stream_id": b, "event_type": "CAPITAL_CALLED", "data": {"amount_cents": 200}},
        {
            "stream_id": a,
            "event_type": "CAPITAL_CALLED",
            "data": {"amount_cents": 300},
            "occurred_at": "2016-06-30T12:00:00+02:00",
        },
        {
            "stream_id": a,
            "event_type": "VALUATION_UPDATED",
            "data": {"company_id": "acme", "valuation_cents": 400},
        },
    ]


@pytest.fixture
def streams() -> tuple[str, str]:
    return f"fund-{uuid.uuid4()}", f"fund-{uuid.uuid4()}"


@pytest.fixture
def input_file(tmp_path: Path, streams: tuple[str, str]) -> Path:
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in history(*streams)))
    return path


def test_import_assigns_versions_per_stream(
    cli: Cli, input_file: Path, streams: tuple[str, str]
) -> None:
    a, b = streams
    result = cli.run("events", "import", input_file, "--batch-size", "2")
    assert "Imported 7 new event(s)" in result.output
    events_a, events_b = cli.events(a), cli.events(b)
    assert [(e.version, e.event_type) for e in events_a] == [
        (1, "FUND_CREATED"),
        (2, "COMPANY_ADDED"),
        (3, "CAPITAL_CALLED"),
        (4, "CAPITAL_CALLED"),
        (5, "VALUATION_UPDATED"),
    ]
    assert [json.loads(e.data).get("amount_cents") for e in events_b] == [None, 200]
    assert events_a[0].metadata["occurred_at"] == "2015-01-10T09:00:00Z"
    assert events_a[3].metadata["occurred_at"] == "2016-06-30T10:00:00Z"
    # The importer's identity, not the file's user_id: the event store records the caller.
    assert events_a[0].user_id == "dev"
    # The file's author survives as what the file said, in metadata.
    assert events_a[0].metadata["imported_user_id"] == "migration"
    # Ids are the plan's deterministic ids.
    planned = parse_input(input_file.read_bytes().splitlines()).streams[a]
    assert [e.event_id for e in events_a] == [p.event.event_id for p in planned]
    state = json.loads(default_state_path(input_file).read_text())
    assert state["streams"] == {a: 5, b: 2}


def test_dry_run_validates_and_writes_nothing(
    cli: Cli, input_file: Path, streams: tuple[str, str]
) -> None:
    result = cli.run("events", "import", input_file, "--dry-run")
    assert "Dry run: 7 valid event(s)" in result.output
    assert cli.version(streams[0]) == cli.version(streams[1]) == 0
    assert not default_state_path(input_file).exists()


def test_rerun_appends_nothing_with_or_without_the_state_file(
    cli: Cli, input_file: Path, streams: tuple[str, str]
) -> None:
    cli.run("events", "import", input_file, "--batch-size", "2")
    ids = [e.event_id for e in cli.events(streams[0])]
    again = cli.run("events", "import", input_file, "--batch-size", "2")
    assert "already imported" in again.output
    default_state_path(input_file).unlink()
    # Without the state and with other batch boundaries, the event store recognises them.
    fresh = cli.run("events", "import", input_file, "--batch-size", "3")
    assert "All 7 event(s) already imported; nothing new written." in fresh.output
    assert [e.event_id for e in cli.events(streams[0])] == ids
    assert (cli.version(streams[0]), cli.version(streams[1])) == (5, 2)


class FailingTarget:
    """The real event store, with a crash injected after `batches` appends."""

    def __init__(self, real: GrpcImportTarget, batches: int) -> None:
        self.real = real
        self.left = batches

    def append(self, stream_id: str, expected: int, events: list[ImportEvent], key: str) -> bool:
        if self.left == 0:
            raise KeyboardInterrupt  # as if the operator pressed Ctrl-C
        self.left -= 1
        return self.real.append(stream_id, expected, events, key)

    def stored_event_ids(self, stream_id: str, last_version: int) -> list[str]:
        return self.real.stored_event_ids(stream_id, last_version)


def test_import_resumes_after_an_interruption(
    cli: Cli, input_file: Path, streams: tuple[str, str]
) -> None:
    a, b = streams
    raw = input_file.read_bytes()
    parsed = parse_input(raw.splitlines())
    state, _ = load_state(default_state_path(input_file), hashlib.sha256(raw).hexdigest())
    with cli.stack.secure.sync_channel(cli.stack.address("event-store")) as channel:
        target = FailingTarget(GrpcImportTarget(channel, 30), batches=2)
        with pytest.raises(KeyboardInterrupt):
            run_import(parsed, target, state, 2)
    assert (cli.version(a), cli.version(b)) == (4, 0)
    result = cli.run("events", "import", input_file, "--batch-size", "2")
    assert "Imported 3 new event(s); 4 already imported" in result.output
    assert [e.version for e in cli.events(a)] == [1, 2, 3, 4, 5]
    assert [e.version for e in cli.events(b)] == [1, 2]


def test_state_file_claiming_more_than_was_written_is_reconciled(
    cli: Cli, input_file: Path, streams: tuple[str, str]
) -> None:
    a, b = streams
    raw = input_file.read_bytes()
    parsed = parse_input(raw.splitlines())
    state, _ = load_state(default_state_path(input_file), hashlib.sha256(raw).hexdigest())
    with (
        cli.stack.secure.sync_channel(cli.stack.address("event-store")) as channel,
        pytest.raises(KeyboardInterrupt),
    ):
        run_import(parsed, FailingTarget(GrpcImportTarget(channel, 30), 1), state, 2)
    assert cli.version(a) == 2
    state.record(a, 4)  # the checkpoint lies: it claims two more events than were written
    cli.run("events", "import", input_file, "--batch-size", "2")
    planned = [p.event.event_id for p in parsed.streams[a]]
    assert [e.event_id for e in cli.events(a)] == planned
    assert cli.version(b) == 2


def test_stream_with_other_events_is_refused(
    cli: Cli, input_file: Path, streams: tuple[str, str]
) -> None:
    a, _b = streams
    cli.run("events", "append", a, "-t", "NOTE", "-d", '{"n":1}')
    result = cli.run("events", "import", input_file, expect=4)
    assert f"{a} holds events that this import did not write" in result.output
    assert cli.version(a) == 1


def test_bad_line_names_line_and_field_and_writes_nothing(
    cli: Cli, tmp_path: Path, streams: tuple[str, str]
) -> None:
    lines = history(*streams)
    lines[3] = {**lines[3], "data": {"amount_cents": "12.50"}}
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    result = cli.run("events", "import", path, expect=2)
    assert "line 4: data.amount_cents: must be an integer number of cents" in result.output
    assert "nothing was written" in result.output
    assert cli.version(streams[0]) == cli.version(streams[1]) == 0
