"""`fundledger events …`: append, read, tail the bus, bulk import."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from fundledger.eventstore.v1 import eventstore_pb2_grpc

from fundledger_cli.commands.event_import import import_events
from fundledger_cli.commands.tail import tail_command
from fundledger_cli.commands.verify import verify_command
from fundledger_cli.context import cli_context
from fundledger_cli.errors import CliError, ExitCode, reports_errors
from fundledger_cli.event_input import (
    InputError,
    ProposedEvent,
    check_stream_id,
    input_failure,
    parse_event,
    parse_json_line,
    read_json_items,
)
from fundledger_cli.eventstore_ops import (
    EXPECTED_CHOICES,
    append_request,
    event_data,
    parse_expected,
    read_stream,
    stream_version,
)
from fundledger_cli.output import counting_progress, stderr_console, stdout_console
from fundledger_cli.render import event_json, events_table
from fundledger_cli.values import parse_time

app = typer.Typer(no_args_is_help=True, help="Append, read, tail and bulk-import events.")

DEFAULT_BATCH = 500


def _stream(stream_id: str) -> str:
    try:
        return check_stream_id(stream_id, "argument")
    except InputError as exc:
        raise CliError(f"STREAM_ID {exc.message}", ExitCode.USAGE) from None


def _load_events(
    event_type: str | None, data: str | None, file: Path | None, user_id: str
) -> list[ProposedEvent]:
    """Every event checked (all errors reported together) before anything is sent."""
    if file is not None and (event_type is not None or data is not None):
        raise CliError("give either --file, or --type with --data, not both", ExitCode.USAGE)
    try:
        if file is not None:
            try:
                raw = file.read_bytes()
            except OSError as exc:
                raise CliError(f"cannot read {file}: {exc.strerror}", ExitCode.USAGE) from None
            items = [(f"{file.name} {where}", obj) for where, obj in read_json_items(raw)]
        elif event_type is not None and data is not None:
            items = [
                (
                    "--data",
                    {"event_type": event_type, "data": parse_json_line(data.encode(), "--data")},
                )
            ]
        else:
            raise CliError("give --type with --data, or --file", ExitCode.USAGE)
    except InputError as exc:
        raise input_failure([exc], "input") from None
    events, errors = [], []
    for where, obj in items:
        if user_id and "user_id" not in obj:
            obj = {**obj, "user_id": user_id}
        try:
            events.append(parse_event(obj, where))
        except InputError as exc:
            errors.append(exc)
    if errors:
        raise input_failure(errors, "event(s)")
    if not events:
        raise CliError(f"{file} holds no events", ExitCode.USAGE)
    return events


@app.command("append")
@reports_errors
def append(
    ctx: typer.Context,
    stream_id: Annotated[str, typer.Argument(help="Target stream, `<category>-<id>`.")],
    event_type: Annotated[
        str | None, typer.Option("--type", "-t", help="Event type of a single event.")
    ] = None,
    data: Annotated[
        str | None, typer.Option("--data", "-d", help="JSON object: the single event's data.")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", "-f", help="Events as a JSON object, a JSON array or JSONL (one per line)."
        ),
    ] = None,
    expected: Annotated[
        str, typer.Option("--expected-version", "-e", help=f"{EXPECTED_CHOICES}.")
    ] = "any",
    user_id: Annotated[
        str,
        typer.Option(
            "--user",
            help="user_id of events without one (a secure stack records the token's subject).",
        ),
    ] = "",
    idempotency_key: Annotated[
        str, typer.Option("--idempotency-key", help="Makes a retry of this append safe.")
    ] = "",
    batch_size: Annotated[
        int, typer.Option(min=1, max=1000, help="Events per append (each batch is atomic).")
    ] = DEFAULT_BATCH,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and show the plan; write nothing.")
    ] = False,
) -> None:
    """Append events to one stream, from --type/--data or a JSON/JSONL file."""
    cli = cli_context(ctx)
    stream_id = _stream(stream_id)
    try:
        expected_version = parse_expected(expected)
    except ValueError:
        raise CliError(
            f"--expected-version: expected {EXPECTED_CHOICES}, got {expected!r}", ExitCode.USAGE
        ) from None
    events = _load_events(event_type, data, file, user_id)
    batches = [events[i : i + batch_size] for i in range(0, len(events), batch_size)]
    out = stdout_console()
    with cli.connect("event-store") as channel:
        if dry_run:
            current = stream_version(channel, stream_id, cli.timeout)
            out.print(
                f"Dry run: {len(events)} event(s) in {len(batches)} batch(es) for {stream_id} "
                f"(now at version {current}, expected {expected}); nothing written."
            )
            return
        stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)
        first = last = None
        replayed = True
        expect: int | str = expected_version
        with counting_progress(stderr_console(), disable=len(events) == 1) as progress:
            task = progress.add_task(f"appending to {stream_id}", total=len(events))
            for index, batch in enumerate(batches):
                key = (
                    idempotency_key
                    if len(batches) == 1 or not idempotency_key
                    else (f"{idempotency_key}#{index}")
                )
                request = append_request(stream_id, expect, [event_data(e) for e in batch], key)
                response = stub.AppendToStream(request, timeout=cli.timeout)
                first = response if first is None else first
                last = response
                replayed = replayed and response.replayed
                expect = int(response.last_version)
                progress.advance(task, len(batch))
    assert first is not None
    assert last is not None
    what = "Already appended (idempotent replay), nothing written:" if replayed else "Appended"
    out.print(
        f"{what} {len(events)} event(s) to {stream_id}: versions {first.first_version}-"
        f"{last.last_version}, positions {first.first_position}-{last.last_position}"
    )


@app.command("read")
@reports_errors
def read(
    ctx: typer.Context,
    stream_id: Annotated[str, typer.Argument(help="Stream to read, `<category>-<id>`.")],
    from_version: Annotated[
        int | None, typer.Option(min=1, help="First version (default: first, or last if -b).")
    ] = None,
    backwards: Annotated[bool, typer.Option("--backwards", "-b", help="Newest first.")] = False,
    max_count: Annotated[int, typer.Option("--max-count", "-n", min=0, help="0 = all.")] = 100,
    as_of: Annotated[
        str | None, typer.Option(help="Only events recorded at or before this ISO-8601 time.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Read one stream's events."""
    cli = cli_context(ctx)
    stream_id = _stream(stream_id)
    until = parse_time(as_of, "--as-of") if as_of else None
    with cli.connect("event-store") as channel:
        events = list(
            read_stream(
                channel,
                stream_id,
                cli.timeout,
                from_version=from_version,
                backwards=backwards,
                max_count=max_count,
                as_of=until,
            )
        )
    out = stdout_console()
    if as_json:
        for e in events:
            typer.echo(event_json(e))
        return
    out.print(events_table(events, f"{stream_id}: {len(events)} event(s)"))


app.command("tail")(tail_command)
app.command("import")(import_events)
app.command("verify")(verify_command)
