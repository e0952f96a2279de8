"""`fundledger events tail`: print events as the relay publishes them to the bus."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from fundledger.eventstore.v1 import events_pb2

from fundledger_cli.bus_tail import (
    DEFAULT_PREFIX,
    DEFAULT_STREAM,
    TailOptions,
    bus_user,
    subject_for,
    tail,
)
from fundledger_cli.context import cli_context
from fundledger_cli.errors import reports_errors
from fundledger_cli.output import stderr_console
from fundledger_cli.render import event_json, event_line


@reports_errors
def tail_command(
    ctx: typer.Context,
    stream: Annotated[str | None, typer.Option("--stream", help="Only this stream.")] = None,
    category: Annotated[
        str | None, typer.Option("--category", help="Only streams of this category.")
    ] = None,
    from_start: Annotated[
        bool, typer.Option("--from-start", help="Replay the bus from its first event first.")
    ] = False,
    count: Annotated[
        int | None, typer.Option("--count", "-n", min=1, help="Stop after N events.")
    ] = None,
    seconds: Annotated[
        float | None, typer.Option("--seconds", min=0.0, help="Stop after S seconds.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    bus_stream: Annotated[
        str, typer.Option(help="JetStream stream of the relay.")
    ] = DEFAULT_STREAM,
    subject_prefix: Annotated[
        str, typer.Option(help="Subject prefix of the relay.")
    ] = DEFAULT_PREFIX,
) -> None:
    """Tail the bus live: one line per event (new events only unless --from-start); Ctrl-C stops."""
    cli = cli_context(ctx)
    url = cli.endpoints.address("nats")
    options = TailOptions(
        url=url,
        bus_stream=bus_stream,
        subject=subject_for(subject_prefix, category, stream),
        from_start=from_start,
        count=count,
        seconds=seconds,
        connect_timeout=min(cli.timeout, 5.0),
        user=bus_user(url, cli.stack_dir),
    )
    err = stderr_console()

    def ready() -> None:
        err.print(
            f"Listening on {options.subject} ({'from the start' if from_start else 'new events'})",
            highlight=False,
        )

    def show(event: events_pb2.RecordedEvent) -> None:
        typer.echo(event_json(event) if as_json else event_line(event))

    try:
        received = asyncio.run(tail(options, ready, show))
    except KeyboardInterrupt:
        err.print("Stopped.")
        return
    err.print(f"{received} event(s).")
