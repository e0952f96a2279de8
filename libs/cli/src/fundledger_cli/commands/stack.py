"""`fundledger stack status`: health of every service and dependency, and projection lag."""

from __future__ import annotations

from typing import Annotated

import grpc
import typer
from fundledger.projector.v1 import projector_pb2, projector_pb2_grpc
from fundledger_devstack.endpoints import healthy, probe
from fundledger_platform.errors import error_info
from rich.table import Table

from fundledger_cli.access import Access
from fundledger_cli.context import CHANNEL_OPTIONS, cli_context
from fundledger_cli.errors import CliError, ExitCode, reports_errors
from fundledger_cli.output import stdout_console

app = typer.Typer(no_args_is_help=True, help="The stack as a whole.")


@app.command("status")
@reports_errors
def status(
    ctx: typer.Context,
    max_lag: Annotated[
        int | None,
        typer.Option("--max-lag", min=0, help="Also fail when the projection lags more events."),
    ] = None,
) -> None:
    """gRPC health of every service, reachability of PostgreSQL / NATS / S3, projection lag.

    Exits 1 when anything is unhealthy."""
    cli = cli_context(ctx)
    endpoints = cli.endpoints
    table = Table(title="FundLedger stack", title_justify="left")
    for column in ("component", "endpoint", "from", "status"):
        table.add_column(column)
    problems: list[str] = []
    access = cli.access
    tls = access.tls()  # health answers without a token, but only over TLS on a secure stack
    for name in endpoints.names():
        address = endpoints.address(name)
        state = probe(name, address, tls)
        if not healthy(state):
            problems.append(f"{name}: {state}")
        style = "green" if healthy(state) else "bold red"
        table.add_row(name, address, endpoints.sources[name], f"[{style}]{state}[/]")
    out = stdout_console()
    out.print(table)
    lag = _projection(cli.endpoints.address("projector"), cli.timeout, access)
    if isinstance(lag, str):
        problems.append(f"projection status: {lag}")
        out.print(f"projection: [bold red]{lag}[/]")
    else:
        out.print(
            f"projection: position {lag.projected_position} of {lag.log_head_position}, "
            f"lag {lag.lag_events} event(s) / {lag.lag_seconds:.3f}s, {lag.fund_count} fund(s)"
            + (", rebuilding" if lag.rebuilding else "")
        )
        if max_lag is not None and lag.lag_events > max_lag:
            problems.append(f"projection lags {lag.lag_events} events (> {max_lag})")
    if problems:
        raise CliError("the stack is not healthy", ExitCode.FAILURE, problems)
    out.print("[green]All healthy.[/]")


def _projection(
    address: str, timeout: float, access: Access
) -> projector_pb2.GetProjectionStatusResponse | str:
    with access.channel(address, CHANNEL_OPTIONS) as channel:
        try:
            response: projector_pb2.GetProjectionStatusResponse = (
                projector_pb2_grpc.ProjectorServiceStub(channel).GetProjectionStatus(
                    projector_pb2.GetProjectionStatusRequest(), timeout=timeout
                )
            )
        except grpc.RpcError as err:
            code = err.code() if isinstance(err, grpc.Call) else None
            info = error_info(err)
            reason = f", {info.reason}" if info is not None else ""
            return f"not available ({code.name if code else 'error'}{reason})"
    return response
