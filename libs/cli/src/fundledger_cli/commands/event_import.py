"""`fundledger events import FILE.jsonl`: move a fund's history in from an older system."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fundledger_cli.bulk_import import MAX_BATCH_SIZE, ParsedInput, parse_input, summarize
from fundledger_cli.context import cli_context
from fundledger_cli.errors import CliError, ExitCode, reports_errors
from fundledger_cli.event_input import input_failure
from fundledger_cli.eventstore_ops import GrpcImportTarget
from fundledger_cli.import_runner import ImportReport, run_import
from fundledger_cli.import_state import ImportState, default_state_path, load_state
from fundledger_cli.output import counting_progress, stderr_console, stdout_console


def _read(path: Path) -> tuple[ParsedInput, str]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", ExitCode.USAGE) from None
    parsed = parse_input(raw.splitlines())
    if parsed.errors:
        raise input_failure(parsed.errors, f"line(s) in {path}")
    if not parsed.streams:
        raise CliError(f"{path} holds no events", ExitCode.USAGE)
    return parsed, hashlib.sha256(raw).hexdigest()


def _plan_table(parsed: ParsedInput, state: ImportState, batch_size: int) -> Table:
    table = Table(title="Import plan", title_justify="left")
    table.add_column("stream")
    table.add_column("events", justify="right")
    table.add_column("versions", justify="right")
    table.add_column("already imported", justify="right")
    table.add_column("batches to append", justify="right")
    for plan in summarize(parsed, state.streams, batch_size):
        table.add_row(
            plan.stream_id, str(plan.events), f"1-{plan.events}", str(plan.done), str(plan.batches)
        )
    return table


def _report_table(report: ImportReport) -> Table:
    table = Table(title="Import result", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("streams", str(report.streams))
    table.add_row("events in file", str(report.events))
    table.add_row("events written", str(report.written_events))
    table.add_row("batches written", str(report.written_batches))
    table.add_row("already imported", str(report.already_imported))
    return table


@reports_errors
def import_events(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="JSONL: one event per line, with its stream_id.")],
    batch_size: Annotated[
        int, typer.Option(min=1, max=MAX_BATCH_SIZE, help="Events per atomic append.")
    ] = 500,
    state_path: Annotated[
        Path | None,
        typer.Option("--state", help="Checkpoint file (default: <FILE>.import-state.json)."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Validate every line and show the plan; write nothing."),
    ] = False,
) -> None:
    """Bulk-import historical events: versions per stream, batches, resumable, idempotent.

    Each line: {"stream_id", "event_type", "data", "occurred_at"?, "user_id"?, "metadata"?, …}.
    Re-running continues after an interruption; a finished import re-run writes nothing.
    """
    cli = cli_context(ctx)
    parsed, digest = _read(file)
    state, warning = load_state(state_path or default_state_path(file), digest)
    out, err = stdout_console(), stderr_console()
    if warning:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False)
    out.print(_plan_table(parsed, state, batch_size))
    if dry_run:
        out.print(
            f"Dry run: {parsed.event_count} valid event(s) in {parsed.lines} line(s) for "
            f"{len(parsed.streams)} stream(s); nothing written."
        )
        return
    try:
        with cli.connect("event-store") as channel, counting_progress(err) as progress:
            task = progress.add_task("importing", total=parsed.event_count)
            report = run_import(
                parsed,
                GrpcImportTarget(channel, cli.timeout),
                state,
                batch_size,
                lambda n: progress.advance(task, n),
            )
    except KeyboardInterrupt:
        raise CliError(
            f"interrupted; progress is saved in {state.path}",
            ExitCode.FAILURE,
            ["run the same command again to continue where it stopped"],
        ) from None
    out.print(_report_table(report))
    if report.written_events == 0:
        out.print(f"All {report.events} event(s) already imported; nothing new written.")
    else:
        out.print(
            f"Imported {report.written_events} new event(s); "
            f"{report.already_imported} already imported. Progress saved in {state.path}."
        )
