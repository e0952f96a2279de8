"""`fundledger snapshots …`: list a fund's snapshots, take one."""

from __future__ import annotations

from typing import Annotated

import typer
from fundledger.snapshotter.v1 import snapshotter_pb2, snapshotter_pb2_grpc

from fundledger_cli.context import cli_context
from fundledger_cli.errors import reports_errors
from fundledger_cli.output import stdout_console
from fundledger_cli.render import snapshots_table
from fundledger_cli.values import fund_stream_id

app = typer.Typer(no_args_is_help=True, help="List a fund's snapshots or take one.")

FundArg = Annotated[str, typer.Argument(help="Fund id: `fund-<id>` or a bare UUID.")]
MAX_PAGES = 1000


@app.command("list")
@reports_errors
def list_snapshots(
    ctx: typer.Context,
    fund: FundArg,
    limit: Annotated[int, typer.Option(min=1, help="At most this many (newest first).")] = 50,
) -> None:
    """A fund's snapshots, newest first."""
    cli = cli_context(ctx)
    fund_id = fund_stream_id(fund)
    snapshots: list[snapshotter_pb2.Snapshot] = []
    with cli.connect("snapshotter") as channel:
        stub = snapshotter_pb2_grpc.SnapshotterServiceStub(channel)
        token = ""
        for _ in range(MAX_PAGES):
            page = stub.ListSnapshots(
                snapshotter_pb2.ListSnapshotsRequest(
                    fund_id=fund_id, page_size=min(limit - len(snapshots), 1000), page_token=token
                ),
                timeout=cli.timeout,
            )
            snapshots.extend(page.snapshots)
            token = page.next_page_token
            if not token or len(snapshots) >= limit:
                break
    stdout_console().print(
        snapshots_table(snapshots[:limit], f"{fund_id}: {len(snapshots[:limit])} snapshot(s)")
    )


@app.command("take")
@reports_errors
def take(
    ctx: typer.Context,
    fund: FundArg,
    version: Annotated[
        int | None,
        typer.Option("--version", min=1, help="Snapshot this version (default: latest)."),
    ] = None,
) -> None:
    """Take a snapshot of a fund now (or at a version)."""
    cli = cli_context(ctx)
    fund_id = fund_stream_id(fund)
    request = snapshotter_pb2.CreateSnapshotRequest(fund_id=fund_id)
    if version is not None:
        request.at_version = version
    with cli.connect("snapshotter") as channel:
        response = snapshotter_pb2_grpc.SnapshotterServiceStub(channel).CreateSnapshot(
            request, timeout=cli.timeout
        )
    stdout_console().print(snapshots_table([response.snapshot], f"{fund_id}: snapshot taken"))
