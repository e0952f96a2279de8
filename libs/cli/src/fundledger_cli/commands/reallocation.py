"""`fundledger realloc …`: preview and commit a reserve reallocation from a CSV, the audit."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import typer
from fundledger.allocation.v1 import allocation_pb2, allocation_pb2_grpc
from rich.markup import escape
from rich.table import Table

from fundledger_cli.context import CliContext, cli_context
from fundledger_cli.errors import CliError, ExitCode, reports_errors
from fundledger_cli.eventstore_ops import stream_version
from fundledger_cli.output import stdout_console
from fundledger_cli.reallocation_csv import ProposedReserve, parse_proposals
from fundledger_cli.render import cents, changes_table, findings_table, timestamp
from fundledger_cli.values import fund_stream_id

app = typer.Typer(no_args_is_help=True, help="Preview and commit reserve reallocations.")

FundArg = Annotated[str, typer.Argument(help="Fund id: `fund-<id>` or a bare UUID.")]
CsvArg = Annotated[Path, typer.Argument(help="CSV with columns company_id,planned_reserves_cents.")]


def _proposals(path: Path) -> list[allocation_pb2.Proposal]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}", ExitCode.USAGE) from None
    rows: list[ProposedReserve] = parse_proposals(text, path.name)
    return [
        allocation_pb2.Proposal(
            company_id=r.company_id, planned_reserves_cents=r.planned_reserves_cents
        )
        for r in rows
    ]


def _preview(
    cli: CliContext, fund_id: str, expected: int, proposals: list[allocation_pb2.Proposal]
) -> allocation_pb2.PreviewReallocationResponse:
    with cli.connect("allocation") as channel:
        response: allocation_pb2.PreviewReallocationResponse = (
            allocation_pb2_grpc.AllocationServiceStub(channel).PreviewReallocation(
                allocation_pb2.PreviewReallocationRequest(
                    fund_id=fund_id, expected_version=expected, proposals=proposals
                ),
                timeout=cli.timeout,
            )
        )
    return response


def _show_preview(preview: allocation_pb2.PreviewReallocationResponse) -> None:
    out = stdout_console()
    out.print(changes_table(preview.changes, preview.totals))
    if preview.findings:
        out.print(findings_table(preview.findings))


@app.command("preview")
@reports_errors
def preview(
    ctx: typer.Context,
    fund: FundArg,
    csv_file: CsvArg,
    expected_version: Annotated[
        int | None,
        typer.Option(min=0, help="Version the proposal is made against (default: current)."),
    ] = None,
) -> None:
    """Show what a reallocation would change, and its findings; writes nothing.

    Exits 1 when an error finding blocks the commit."""
    cli = cli_context(ctx)
    fund_id = fund_stream_id(fund)
    proposals = _proposals(csv_file)
    if expected_version is None:
        with cli.connect("event-store") as channel:
            expected_version = stream_version(channel, fund_id, cli.timeout)
    result = _preview(cli, fund_id, expected_version, proposals)
    _show_preview(result)
    out = stdout_console()
    if not result.commit_allowed:
        raise CliError(
            f"blocked: the reallocation has error findings (fund at version "
            f"{result.current_version}); nothing can be committed as is",
            ExitCode.FAILURE,
        )
    out.print(
        f"Commit allowed. To commit: fundledger realloc commit {fund_id} {csv_file} "
        f"--expected-version {result.current_version} --reason '…' --user …"
    )


def _default_key(
    fund_id: str, expected: int, proposals: list[allocation_pb2.Proposal], reason: str, user: str
) -> str:
    """The same commit typed twice is one commit (the second is a replay)."""
    digest = hashlib.sha256()
    for part in (fund_id, str(expected), reason, user):
        digest.update(part.encode() + b"\0")
    for p in proposals:
        digest.update(f"{p.company_id}={p.planned_reserves_cents}\0".encode())
    return "cli-" + digest.hexdigest()[:40]


@app.command("commit")
@reports_errors
def commit(
    ctx: typer.Context,
    fund: FundArg,
    csv_file: CsvArg,
    expected_version: Annotated[
        int, typer.Option(min=0, help="The version the preview showed (required).")
    ],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")],
    user: Annotated[str, typer.Option("--user", help="Who (kept in the audit trail).")],
    idempotency_key: Annotated[
        str, typer.Option(help="Default: derived from fund, version, proposal, reason, user.")
    ] = "",
) -> None:
    """Commit a reallocation at the expected version; exits non-zero if blocked."""
    cli = cli_context(ctx)
    fund_id = fund_stream_id(fund)
    proposals = _proposals(csv_file)
    key = idempotency_key or _default_key(fund_id, expected_version, proposals, reason, user)
    with cli.connect("allocation") as channel:
        result = allocation_pb2_grpc.AllocationServiceStub(channel).CommitReallocation(
            allocation_pb2.CommitReallocationRequest(
                fund_id=fund_id,
                expected_version=expected_version,
                proposals=proposals,
                reason=reason,
                user_id=user,
                idempotency_key=key,
            ),
            timeout=cli.timeout,
        )
    out = stdout_console()
    out.print(changes_table(result.changes, result.totals))
    if result.findings:
        out.print(findings_table(result.findings))
    what = "Already committed (idempotent replay):" if result.replayed else "Committed:"
    out.print(f"{what} {fund_id} version {result.baseline_version} -> {result.new_version}")


@app.command("audit")
@reports_errors
def audit(
    ctx: typer.Context,
    fund: FundArg,
    limit: Annotated[
        int, typer.Option(min=1, max=500, help="At most this many, newest first.")
    ] = 20,
) -> None:
    """A fund's committed reallocations, newest first."""
    cli = cli_context(ctx)
    fund_id = fund_stream_id(fund)
    with cli.connect("allocation") as channel:
        page = allocation_pb2_grpc.AllocationServiceStub(channel).ListReallocationAudit(
            allocation_pb2.ListReallocationAuditRequest(fund_id=fund_id, page_size=limit),
            timeout=cli.timeout,
        )
    table = Table(title=f"{fund_id}: {len(page.entries)} reallocation(s)", title_justify="left")
    for name in ("versions", "when (UTC)", "user", "reason", "companies"):
        table.add_column(name)
    table.add_column("total before", justify="right")
    table.add_column("total after", justify="right")
    for e in page.entries:
        table.add_row(
            f"{e.baseline_version} -> {e.new_version}",
            timestamp(e.commit_time),
            escape(e.user_id),
            escape(e.reason),
            str(len(e.changes)),
            cents(e.totals.before_cents),
            cents(e.totals.after_cents),
        )
    stdout_console().print(table)
