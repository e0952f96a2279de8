"""`fundledger fund at` and `fundledger fund restatement`: a fund on its two clocks.

A fund's events carry two times: when the fact happened (effective, the business date) and when
it was recorded (known). `fund at` asks the snapshotter for the fund as of a business date as
known at a time; `fund restatement` compares one business date as known at two times, which is
what an auditor asks after a late write-down. Dates follow fundledger_cli.business_time: a bare
date is the end of that day, UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from fundledger.snapshotter.v1 import snapshotter_pb2, snapshotter_pb2_grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from fundledger_cli.business_time import DATE_HELP, parse_optional_point, parse_point
from fundledger_cli.context import cli_context
from fundledger_cli.errors import CliError, ExitCode, reports_errors
from fundledger_cli.output import stdout_console
from fundledger_cli.render import companies_table, fund_summary_table, timestamp, variances_table
from fundledger_cli.time_travel_render import (
    basis_of,
    clocks_table,
    company_changes_table,
    explaining_events_table,
    figure_changes_table,
    holdings_table,
    side_by_side_table,
)
from fundledger_cli.values import fund_stream_id

FundArg = Annotated[str, typer.Argument(help="Fund id: `fund-<id>` or a bare UUID.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="The service's answer as JSON.")]


def _ts(when: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(when.astimezone(UTC))
    return stamp


def _print_json(message: Message) -> None:
    typer.echo(json_format.MessageToJson(message, preserving_proto_field_name=True))


@reports_errors
def at(
    ctx: typer.Context,
    fund: FundArg,
    effective: Annotated[
        str | None,
        typer.Option(
            "--effective",
            metavar="DATE|TIME",
            help=f"Business date E: events effective at or before it. {DATE_HELP}. "
            "Default: the known time.",
        ),
    ] = None,
    known_at: Annotated[
        str | None,
        typer.Option(
            "--known-at",
            "--time",
            metavar="DATE|TIME",
            help=f"Known time K: events recorded at or before it. {DATE_HELP}. Default: now.",
        ),
    ] = None,
    at_version: Annotated[
        int | None,
        typer.Option(
            "--at-version",
            "--version",
            min=1,
            help="Instead of --known-at: the events up to this version.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """A fund as of a business date, as known at a time (from the snapshotter).

    `--effective 2025-09-30` is the fund on 30 September as known now (every event effective on
    or before that day); add `--known-at 2025-10-15T00:00Z` for what was known then.

    A bare date is the END of that day, UTC: 2025-09-30 = 2025-09-30T23:59:59.999999Z.
    """
    cli = cli_context(ctx)
    fund_id = fund_stream_id(fund)
    if effective is None and known_at is None and at_version is None:
        raise CliError(
            "give --effective, --known-at or --at-version (`fund show` gives the current state)",
            ExitCode.USAGE,
        )
    if known_at is not None and at_version is not None:
        raise CliError("give --known-at or --at-version, not both", ExitCode.USAGE)
    request = snapshotter_pb2.GetFundStateAtRequest(fund_id=fund_id)
    business_date = parse_optional_point(effective, "--effective")
    if business_date is not None:
        request.effective_at.CopyFrom(_ts(business_date))
    if known_at is not None:
        request.known_at.CopyFrom(_ts(parse_point(known_at, "--known-at")))
    elif at_version is not None:
        request.at_version = at_version
    with cli.connect("snapshotter") as channel:
        response = snapshotter_pb2_grpc.SnapshotterServiceStub(channel).GetFundStateAt(
            request, timeout=cli.timeout
        )
    if as_json:
        _print_json(response)
        return
    state = response.state
    title = (
        f"{fund_id} as of {timestamp(response.effective_at)}, known at "
        f"{timestamp(response.known_at)}: version {response.version} "
        f"({basis_of(response.snapshot_id, response.snapshot_version, response.events_replayed)})"
    )
    out = stdout_console()
    out.print(fund_summary_table(state, title))
    out.print(clocks_table(response))
    if state.companies:
        out.print(companies_table(state))
        out.print(holdings_table(state))
    if state.variances:
        out.print(variances_table(state))


@reports_errors
def restatement(
    ctx: typer.Context,
    fund: FundArg,
    effective: Annotated[
        str,
        typer.Option(
            "--effective",
            metavar="DATE|TIME",
            help=f"Business date both states are as of. {DATE_HELP}.",
        ),
    ],
    before: Annotated[
        str,
        typer.Option(
            "--before",
            metavar="DATE|TIME",
            help=f'Earlier known time ("as reported at the time"). {DATE_HELP}.',
        ),
    ],
    after: Annotated[
        str | None,
        typer.Option(
            "--after", metavar="DATE|TIME", help=f"Later known time. {DATE_HELP}. Default: now."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """A business date as known at two times: both states, what changed, and why.

    `--effective 2025-09-30 --before 2025-10-15T00:00Z` compares 30 September as reported on
    15 October with 30 September as known now, per figure and per company, and lists the events
    recorded in between that are effective on or before that day.

    A bare date is the END of that day, UTC: 2025-09-30 = 2025-09-30T23:59:59.999999Z.
    """
    cli = cli_context(ctx)
    fund_id = fund_stream_id(fund)
    business_date = parse_point(effective, "--effective")
    known_before = parse_point(before, "--before")
    known_after = parse_optional_point(after, "--after")
    if known_after is not None and known_after < known_before:
        raise CliError("--after must not be before --before", ExitCode.USAGE)
    request = snapshotter_pb2.GetRestatementRequest(
        fund_id=fund_id, effective_at=_ts(business_date), known_at_before=_ts(known_before)
    )
    if known_after is not None:
        request.known_at_after.CopyFrom(_ts(known_after))
    with cli.connect("snapshotter") as channel:
        response = snapshotter_pb2_grpc.SnapshotterServiceStub(channel).GetRestatement(
            request, timeout=cli.timeout
        )
    if as_json:
        _print_json(response)
        return
    out = stdout_console()
    as_of = timestamp(response.effective_at)
    first = f"known at {timestamp(response.known_at_before)}"
    second = f"known at {timestamp(response.known_at_after)}"
    out.print(f"{fund_id} as of {as_of}: {first} vs {second}", markup=False)
    out.print(side_by_side_table(response.before, response.after, (first, second)))
    if not response.changes and not response.companies:
        out.print("No figure differs: nothing was restated.")
    if response.changes:
        out.print(figure_changes_table(response.changes, "Fund figures restated"))
    if response.companies:
        out.print(company_changes_table(response.companies))
    if response.events:
        out.print(explaining_events_table(response.events))
    else:
        out.print("No event recorded between the two known times is effective by that date.")
