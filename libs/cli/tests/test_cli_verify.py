"""`fundledger events verify STREAM` and `--all` against the real stack: OK on a valid chain,
exit 1 naming the version after an edit made directly in PostgreSQL (undone afterwards: the
stack is the session's)."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

import asyncpg
from fundledger.eventstore.v1 import events_pb2, eventstore_pb2
from fundledger_devstack.stack_access import admin_dsn

Cli = Any  # conftest.CliDriver


def _append(cli: Cli, stream: str, count: int) -> None:
    for n in range(count):
        note = events_pb2.EventData(event_type="NOTE_ADDED", data=json.dumps({"n": n}).encode())
        cli.eventstore.AppendToStream(
            eventstore_pb2.AppendToStreamRequest(stream_id=stream, events=[note])
        )


def _sql(cli: Cli, statement: str, *args: Any) -> None:
    async def run() -> None:
        stack = cli.stack
        conn = await asyncpg.connect(admin_dsn(stack.stack_dir, stack.endpoints["postgres"]))
        try:
            await conn.execute(statement, *args)
        finally:
            await conn.close()

    asyncio.run(run())


def test_verify_one_stream_and_all_streams(cli: Cli) -> None:
    # A category of its own: --all --from it sees only this test's streams.
    category = f"zzverify{uuid.uuid4().hex[:12]}"
    stream, other = f"{category}-a", f"{category}-b"
    _append(cli, stream, 3)
    _append(cli, other, 2)
    ok = cli.run("events", "verify", stream)
    assert f"OK {stream}: 3 event(s) to version 3" in ok.stdout
    every = cli.run("events", "verify", "--all", "--from", stream)
    assert "OK: 2 stream(s), 5 event(s)" in every.stdout

    tamper = "UPDATE eventstore.events SET data = $2::jsonb WHERE stream_id = $1 AND version = 2"
    _sql(cli, tamper, stream, '{"n": 99}')
    try:
        broken = cli.run("events", "verify", stream, expect=1)
        assert f"BREAK {stream} at version 2: hash mismatch" in broken.stdout
        log = cli.run("events", "verify", "--all", "--from", stream, expect=1)
        assert f"BREAK {stream} at version 2: hash mismatch" in log.output
        assert "1 BREAK(S): 2 stream(s), 3 event(s)" in log.stdout
    finally:
        _sql(cli, tamper, stream, '{"n": 1}')
    cli.run("events", "verify", stream)


def _through(output: str) -> int:
    found = re.search(
        r"through position (\d+); next incremental run: --since-position (\d+)", output
    )
    assert found is not None, output
    assert found[1] == found[2]
    return int(found[1])


def test_verify_since_a_position(cli: Cli) -> None:
    # The session's stack holds other tests' streams (after `first` in id order too); none of
    # them changes while this test runs.
    category = f"zzsince{uuid.uuid4().hex[:12]}"
    first, second = f"{category}-a", f"{category}-b"
    _append(cli, first, 2)
    _append(cli, second, 2)
    whole = cli.run("events", "verify", "--all", "--from", first)
    assert whole.stdout.startswith("OK: ")
    position = _through(whole.stdout)
    _append(cli, second, 1)
    since = cli.run("events", "verify", "--all", "--from", first, "--since-position", str(position))
    assert f"OK: 1 stream(s) changed since position {position}, 3 event(s)" in since.stdout
    assert _through(since.stdout) > position
    again = cli.run(
        "events",
        "verify",
        "--all",
        "--from",
        first,
        "--since-position",
        str(_through(since.stdout)),
    )
    assert "OK: 0 stream(s) changed since position" in again.stdout


def test_verify_usage_errors(cli: Cli) -> None:
    cli.run("events", "verify", expect=2)
    cli.run("events", "verify", "fund-x", "--all", expect=2)
    cli.run("events", "verify", "not a stream", expect=2)
    cli.run("events", "verify", "fund-x", "--from", "fund-y", expect=2)
    alone = cli.run("events", "verify", "fund-x", "--since-position", "3", expect=2)
    assert "--since-position goes with --all" in alone.output
    negative = cli.run("events", "verify", "--all", "--since-position", "-1", expect=2)
    assert "--since-position must be 0 or more" in negative.output
    missing = cli.run("events", "verify", f"fund-{uuid.uuid4()}", expect=5)
    assert "does not exist" in missing.output
