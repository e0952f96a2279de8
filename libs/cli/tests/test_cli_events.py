"""`fundledger events append / read / tail` against the real stack."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from fundledger.eventstore.v1 import events_pb2, eventstore_pb2
from fundledger_cli.render import event_json

Cli = Any  # conftest.CliDriver


def test_append_single_event_and_read_it_back(cli: Cli, fund_id: str) -> None:
    data = '{"name":"Acme","committed_capital_cents":100000,"currency":"USD"}'
    result = cli.run(
        "events",
        "append",
        fund_id,
        "-t",
        "FUND_CREATED",
        "-d",
        data,
        "-e",
        "no-stream",
        "--user",
        "mallory",
    )
    assert "Appended 1 event(s)" in result.output
    [event] = cli.events(fund_id)
    # The stack is secure: the event store records who the token names (the CLI's own dev
    # token names "dev"), never the user a request claims.
    assert (event.version, event.event_type, event.user_id) == (1, "FUND_CREATED", "dev")
    assert json.loads(event.data) == json.loads(data)
    assert event.source == "fundledger-cli"

    read = cli.run("events", "read", fund_id, "--json")
    [line] = read.stdout.splitlines()
    assert json.loads(line)["event_id"] == event.event_id
    assert json.loads(line)["data"]["committed_capital_cents"] == 100000
    table = cli.run("events", "read", fund_id)
    assert "FUND_CREATED" in table.stdout


def test_read_prints_the_same_from_pages_as_from_single_events(cli: Cli) -> None:
    """The CLI reads pages, the store's default; it prints exactly what it printed when every
    event came in a message of its own — across page boundaries (1,050 events: two pages)."""
    stream = f"note-{uuid.uuid4()}"
    for start in range(0, 1050, 150):
        events = [
            events_pb2.EventData(event_type="NOTE_ADDED", data=json.dumps({"i": i}).encode())
            for i in range(start, start + 150)
        ]
        request = eventstore_pb2.AppendToStreamRequest(stream_id=stream, events=events)
        cli.eventstore.AppendToStream(request, timeout=30)
    one_by_one = eventstore_pb2.ReadStreamRequest(stream_id=stream, one_per_message=True)
    single = [r.event for r in cli.eventstore.ReadStream(one_by_one, timeout=30)]
    assert len(single) == 1050

    read = cli.run("events", "read", stream, "--json", "-n", "0")
    assert read.stdout.splitlines() == [event_json(e) for e in single]
    back = cli.run("events", "read", stream, "--json", "-n", "1020", "-b", "--from-version", "1040")
    assert back.stdout.splitlines() == [event_json(e) for e in single[1039::-1][:1020]]
    table = cli.run("events", "read", stream, "-n", "0")
    assert f"{stream}: 1050 event(s)" in table.stdout


def test_append_from_jsonl_in_batches(cli: Cli, fund_id: str, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = [
        {
            "event_type": "FUND_CREATED",
            "data": {"name": "F", "committed_capital_cents": 10**10, "currency": "USD"},
        },
        *(
            {"event_type": "CAPITAL_CALLED", "data": {"amount_cents": 1000 * i}}
            for i in range(1, 6)
        ),
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    result = cli.run("events", "append", fund_id, "-f", path, "--batch-size", "2", "-e", "0")
    assert "versions 1-6" in result.output
    events = cli.events(fund_id)
    assert [e.version for e in events] == [1, 2, 3, 4, 5, 6]
    assert [json.loads(e.data).get("amount_cents") for e in events[1:]] == [
        1000,
        2000,
        3000,
        4000,
        5000,
    ]


def test_append_json_array_file(cli: Cli, fund_id: str, tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text(
        json.dumps(
            [
                {"event_type": "NOTE_TAKEN", "data": {"text": "hello"}},
                {"event_type": "NOTE_TAKEN", "data": {"text": "again"}, "metadata": {"k": "v"}},
            ],
            indent=2,
        )
    )
    cli.run("events", "append", fund_id, "-f", path)
    events = cli.events(fund_id)
    assert [json.loads(e.data)["text"] for e in events] == ["hello", "again"]
    assert events[1].metadata["k"] == "v"


def test_append_with_effective_at_shows_it_on_read(cli: Cli, fund_id: str, tmp_path: Path) -> None:
    path = tmp_path / "backdated.json"
    path.write_text(
        json.dumps(
            [
                {"event_type": "NOTE_TAKEN", "data": {"t": 1}, "effective_at": "2025-09-30T17:00Z"},
                {"event_type": "NOTE_TAKEN", "data": {"t": 2}},
            ]
        )
    )
    cli.run("events", "append", fund_id, "-f", path)
    backdated, unset = cli.events(fund_id)
    assert backdated.effective_at.ToJsonString() == "2025-09-30T17:00:00Z"
    assert unset.effective_at == unset.recorded_at
    lines = [
        json.loads(x) for x in cli.run("events", "read", fund_id, "--json").stdout.splitlines()
    ]
    assert [x["effective_at"] for x in lines] == [
        "2025-09-30T17:00:00Z",
        unset.recorded_at.ToJsonString(),
    ]
    assert "2025-09-30 17:00:00.000Z" in cli.run("events", "read", fund_id).stdout


def test_dry_run_writes_nothing(cli: Cli, created_fund: str) -> None:
    before = cli.version(created_fund)
    result = cli.run(
        "events",
        "append",
        created_fund,
        "-t",
        "CAPITAL_CALLED",
        "-d",
        '{"amount_cents":5}',
        "--dry-run",
    )
    assert "Dry run" in result.output
    assert cli.version(created_fund) == before == 3


def test_bad_payload_names_the_field_and_writes_nothing(
    cli: Cli, fund_id: str, tmp_path: Path
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(
        json.dumps(
            {
                "event_type": "FUND_CREATED",
                "data": {"name": "F", "committed_capital_cents": 100, "currency": "USD"},
            }
        )
        + "\n"
        + json.dumps({"event_type": "CAPITAL_CALLED", "data": {"amount_cents": 10.5}})
        + "\n"
    )
    result = cli.run("events", "append", fund_id, "-f", path, expect=2)
    assert "line 2: data.amount_cents: must be an integer number of cents" in result.output
    assert cli.version(fund_id) == 0


def test_server_side_refusal_shows_the_field(cli: Cli, fund_id: str, tmp_path: Path) -> None:
    # A metadata key over the server's limit passes the CLI's checks: the event store
    # refuses it with INVALID_ARGUMENT and a BadRequest naming the field.
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"event_type": "NOTE", "data": {}, "metadata": {"k" * 201: "v"}}))
    result = cli.run("events", "append", fund_id, "-f", path, expect=2)
    assert "event-store refused the call: INVALID_ARGUMENT" in result.output
    assert "field events[0].metadata:" in result.output
    assert cli.version(fund_id) == 0


def test_version_conflict_shows_aborted_with_details(cli: Cli, created_fund: str) -> None:
    result = cli.run(
        "events",
        "append",
        created_fund,
        "-t",
        "CAPITAL_CALLED",
        "-d",
        '{"amount_cents":5}',
        "-e",
        "1",
        expect=4,
    )
    assert "ABORTED" in result.output
    assert "reason: WRONG_EXPECTED_VERSION" in result.output
    assert "actual_version: 3" in result.output
    assert cli.version(created_fund) == 3


def test_idempotency_key_replays(cli: Cli, created_fund: str) -> None:
    args = (
        "events",
        "append",
        created_fund,
        "-t",
        "CAPITAL_CALLED",
        "-d",
        '{"amount_cents":5}',
        "--idempotency-key",
        "call-1",
    )
    cli.run(*args)
    again = cli.run(*args)
    assert "idempotent replay" in again.output
    assert cli.version(created_fund) == 4


def test_unreachable_service_is_a_clear_error(cli: Cli, fund_id: str) -> None:
    result = cli.run("events", "read", fund_id, root=["--event-store", "127.0.0.1:1"], expect=3)
    assert "cannot reach event-store at 127.0.0.1:1" in result.output


def _readline(stream: Any, deadline: float) -> str:
    """One line of a subprocess pipe, waiting at most until `deadline`."""
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    try:
        while time.monotonic() < deadline:
            if selector.select(timeout=max(0.0, deadline - time.monotonic())):
                return str(stream.readline())
        return ""
    finally:
        selector.close()


def test_tail_prints_events_appended_after_it_started(cli: Cli, created_fund: str) -> None:
    other = f"fund-{uuid.uuid4()}"
    argv = [
        sys.executable,
        "-m",
        "fundledger_cli",
        "--stack-dir",
        str(cli.stack.stack_dir),
        "events",
        "tail",
        "--category",
        "fund",
        "--count",
        "2",
        "--seconds",
        "60",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDLEDGER_")}
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as tail:
        try:
            ready = _readline(tail.stderr, time.monotonic() + 30)
            assert "Listening on fundledger.events.fund.>" in ready
            cli.run(
                "events", "append", created_fund, "-t", "CAPITAL_CALLED", "-d", '{"amount_cents":7}'
            )
            cli.run("events", "append", other, "-t", "NOTE_TAKEN", "-d", '{"n":1}')
            out, err = tail.communicate(timeout=60)
        finally:
            if tail.poll() is None:
                tail.kill()
    assert tail.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) == 2
    assert f"{created_fund} v4  CAPITAL_CALLED" in lines[0]
    assert f"{other} v1  NOTE_TAKEN" in lines[1]


def test_tail_from_start_of_one_stream(cli: Cli, created_fund: str) -> None:
    result = cli.run(
        "events",
        "tail",
        "--stream",
        created_fund,
        "--from-start",
        "--count",
        "3",
        "--seconds",
        "60",
        "--json",
    )
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(e["stream_id"], e["version"]) for e in events] == [
        (created_fund, 1),
        (created_fund, 2),
        (created_fund, 3),
    ]
