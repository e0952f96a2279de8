"""`fundledger events verify`: the hash chain of one stream, or of the whole log (or of the
streams changed since a log position: --since-position), recomputed by the event store
(docs/event-store.md, "Hash chain"). Exit 1 on a break."""

from __future__ import annotations

from typing import Annotated

import typer
from fundledger.eventstore.v1 import eventstore_pb2, eventstore_pb2_grpc

from fundledger_cli.context import cli_context
from fundledger_cli.errors import CliError, ExitCode, reports_errors
from fundledger_cli.event_input import InputError, check_stream_id
from fundledger_cli.output import counting_progress, stderr_console, stdout_console


def _line(problem: eventstore_pb2.ChainBreak) -> str:
    return f"BREAK {problem.stream_id} at version {problem.version}: {problem.problem}"


@reports_errors
def verify_command(
    ctx: typer.Context,
    stream_id: Annotated[
        str | None, typer.Argument(help="Stream to verify, `<category>-<id>`.")
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Verify every stream of the log.")] = False,
    from_stream: Annotated[
        str | None, typer.Option("--from", help="With --all: start at this stream id.")
    ] = None,
    since: Annotated[
        int | None,
        typer.Option(
            "--since-position",
            help="With --all: only the streams with an event after this log position, each "
            "verified whole (the previous run's 'verified through position').",
        ),
    ] = None,
) -> None:
    """Verify the hash chain of STREAM, or of every stream with --all (exit 1 on a break)."""
    if (stream_id is None) == (not every):
        raise CliError("give a STREAM_ID, or --all", ExitCode.USAGE)
    for value, name in ((from_stream, "--from"), (since, "--since-position")):
        if value is not None and not every:
            raise CliError(f"{name} goes with --all", ExitCode.USAGE)
    if since is not None and since < 0:
        raise CliError("--since-position must be 0 or more", ExitCode.USAGE)
    for value, name in ((stream_id, "STREAM_ID"), (from_stream, "--from")):
        if value is not None:
            try:
                check_stream_id(value, "argument")
            except InputError as exc:
                raise CliError(f"{name} {exc.message}", ExitCode.USAGE) from None
    cli = cli_context(ctx)
    with cli.connect("event-store") as channel:
        stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)
        if stream_id is not None:
            ok = _one(stub, stream_id, cli.timeout)
        else:
            ok = _all(stub, from_stream or "", since or 0)
    if not ok:
        raise typer.Exit(ExitCode.FAILURE)


def _one(stub: eventstore_pb2_grpc.EventStoreServiceStub, stream_id: str, timeout: float) -> bool:
    response = stub.VerifyStream(
        eventstore_pb2.VerifyStreamRequest(stream_id=stream_id), timeout=timeout
    )
    out = stdout_console()
    unverified = (
        f", {response.events_unverified} without a hash yet (not back-filled)"
        if response.events_unverified
        else ""
    )
    if response.ok:
        out.print(
            f"OK {stream_id}: {response.events_checked} event(s) to version {response.version}"
            f"{unverified}, head hash {response.head_hash or '-'}"
        )
        return True
    out.print(_line(getattr(response, "break")))
    return False


def _all(stub: eventstore_pb2_grpc.EventStoreServiceStub, start: str, since: int) -> bool:
    out, err = stdout_console(), stderr_console()
    breaks = 0
    last = eventstore_pb2.VerifyLogResponse()
    # No deadline: the whole log may take a while; a report comes at least every few seconds.
    with counting_progress(err, disable=not err.is_terminal) as bar:
        task = bar.add_task("streams verified", total=None)
        request = eventstore_pb2.VerifyLogRequest(from_stream_id=start, from_position=since)
        for report in stub.VerifyLog(request):
            bar.update(task, total=report.streams_total, completed=report.streams_checked)
            for problem in report.breaks:
                breaks += 1
                bar.console.print(_line(problem))
            last = report
    if not last.done:
        raise CliError("the verification ended before its last report", ExitCode.FAILURE)
    unverified = (
        f", {last.events_unverified} without a hash yet (not back-filled)"
        if last.events_unverified
        else ""
    )
    verdict = "OK" if breaks == 0 else f"{breaks} BREAK(S)"
    changed = f" changed since position {since}" if since else ""
    out.print(
        f"{verdict}: {last.streams_checked} stream(s){changed}, {last.events_checked} event(s)"
        f"{unverified}"
    )
    # What an auditor's next (incremental) run starts from: everything up to it is covered (a
    # stream broken here is reported again only if it changes after it).
    done = "verified" if breaks == 0 else "checked (with breaks)"
    out.print(
        f"{done} through position {last.through_position}; "
        f"next incremental run: --since-position {last.through_position}"
    )
    return breaks == 0
