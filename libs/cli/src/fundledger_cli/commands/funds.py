"""`fundledger fund …`: a fund's current state, its state in the past (fund_time.py), the list
of funds."""

from __future__ import annotations

from typing import Annotated

import typer
from fundledger.fund.v1 import state_pb2
from fundledger.projector.v1 import projector_pb2, projector_pb2_grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from rich.markup import escape
from rich.table import Table

from fundledger_cli.commands import fund_time
from fundledger_cli.context import cli_context
from fundledger_cli.errors import reports_errors
from fundledger_cli.output import stdout_console
from fundledger_cli.render import (
    cents,
    companies_table,
    fund_summary_table,
    timestamp,
    variances_table,
)
from fundledger_cli.values import fund_stream_id

app = typer.Typer(
    no_args_is_help=True,
    help="Show fund state: now, as of a business date as known at a time, or a restatement.",
)

FundArg = Annotated[str, typer.Argument(help="Fund id: `fund-<id>` or a bare UUID.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="The service's answer as JSON.")]
# ListFunds pages the CLI follows at most.
MAX_PAGES = 1000


def _print_json(message: Message) -> None:
    typer.echo(json_format.MessageToJson(message, preserving_proto_field_name=True))


def _print_state(state: state_pb2.FundState, title: str) -> None:
    out = stdout_console()
    out.print(fund_summary_table(state, title))
    if state.companies:
        out.print(companies_table(state))
    if state.variances:
        out.print(variances_table(state))


@app.command("show")
@reports_errors
def show(
    ctx: typer.Context,
    fund: FundArg,
    min_version: Annotated[
        int, typer.Option(min=0, help="Wait (within --timeout) until projected this far.")
    ] = 0,
    as_json: JsonOpt = False,
) -> None:
    """A fund's current state (from the projector), as tables."""
    cli = cli_context(ctx)
    fund_id = fund_stream_id(fund)
    with cli.connect("projector") as channel:
        response = projector_pb2_grpc.ProjectorServiceStub(channel).GetFundState(
            projector_pb2.GetFundStateRequest(fund_id=fund_id, min_version=min_version),
            timeout=cli.timeout,
        )
    if as_json:
        _print_json(response)
        return
    _print_state(response.state, f"{fund_id} (current, projected at position {response.position})")


# The two-clock commands live in their own module (fund_time.py).
app.command("at")(fund_time.at)
app.command("restatement")(fund_time.restatement)


@app.command("list")
@reports_errors
def list_funds(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, help="At most this many funds.")] = 100,
) -> None:
    """The funds the projector knows."""
    cli = cli_context(ctx)
    funds: list[projector_pb2.FundSummary] = []
    with cli.connect("projector") as channel:
        stub = projector_pb2_grpc.ProjectorServiceStub(channel)
        token = ""
        for _ in range(MAX_PAGES):
            page = stub.ListFunds(
                projector_pb2.ListFundsRequest(
                    page_size=min(limit - len(funds), 1000), page_token=token
                ),
                timeout=cli.timeout,
            )
            funds.extend(page.funds)
            token = page.next_page_token
            if not token or len(funds) >= limit:
                break
    table = Table(title=f"{len(funds)} fund(s)", title_justify="left")
    table.add_column("fund")
    table.add_column("name")
    table.add_column("version", justify="right")
    table.add_column("committed", justify="right")
    table.add_column("updated (UTC)")
    for f in funds[:limit]:
        table.add_row(
            f.fund_id,
            escape(f.name),
            str(f.version),
            cents(f.committed_cents),
            timestamp(f.updated_time),
        )
    stdout_console().print(table)
