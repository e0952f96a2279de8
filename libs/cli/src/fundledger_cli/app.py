"""The `fundledger` command: root options, and the command groups."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fundledger_cli.access import CA_FILE_VAR, TOKEN_FILE_VAR, TOKEN_VAR
from fundledger_cli.commands import auth, events, files, funds, reallocation, snapshots, stack
from fundledger_cli.context import CliContext
from fundledger_cli.endpoints import resolve_endpoints
from fundledger_cli.errors import CliError, report

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Operate a FundLedger stack.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(events.app, name="events")
app.add_typer(funds.app, name="fund")
app.add_typer(snapshots.app, name="snapshots")
app.add_typer(reallocation.app, name="realloc")
app.add_typer(files.app, name="files")
app.add_typer(stack.app, name="stack")
app.add_typer(auth.app, name="auth")


@app.command("demo")
def demo(ctx: typer.Context) -> None:
    """Create a realistic demo fund on the running stack and show it (what `make demo` runs)."""
    from fundledger_cli.demo.main import main as demo_main

    stack_dir = ctx.find_root().params.get("stack_dir")
    raise typer.Exit(demo_main(Path(stack_dir).absolute() if stack_dir else None))


def _address(service: str, env: str) -> object:
    return typer.Option(
        f"--{service}",
        envvar=env,
        metavar="HOST:PORT",
        help=f"{service} address (default: endpoints.json, else the default port).",
        show_envvar=True,
    )


@app.callback()
def root(
    ctx: typer.Context,
    stack_dir: Annotated[
        Path,
        typer.Option(envvar="FUNDLEDGER_STACK_DIR", help="Stack directory holding endpoints.json."),
    ] = Path(".stack"),
    event_store: Annotated[
        str | None, _address("event-store", "FUNDLEDGER_EVENTSTORE_ADDRESS")
    ] = None,
    projector: Annotated[str | None, _address("projector", "FUNDLEDGER_PROJECTOR_ADDRESS")] = None,
    snapshotter: Annotated[
        str | None, _address("snapshotter", "FUNDLEDGER_SNAPSHOTTER_ADDRESS")
    ] = None,
    allocation: Annotated[
        str | None, _address("allocation", "FUNDLEDGER_ALLOCATION_ADDRESS")
    ] = None,
    storage: Annotated[str | None, _address("storage", "FUNDLEDGER_STORAGE_ADDRESS")] = None,
    nats: Annotated[
        str | None,
        typer.Option(envvar="FUNDLEDGER_NATS_URL", metavar="URL", help="NATS URL (for tail)."),
    ] = None,
    timeout: Annotated[
        float, typer.Option(envvar="FUNDLEDGER_CLI_TIMEOUT", min=0.1, help="RPC deadline (s).")
    ] = 10.0,
    # No typer envvar for these three: the command line must beat every variable (see access.py
    # for the order), which typer's per-option fallback cannot express across two options.
    token: Annotated[
        str | None,
        typer.Option(
            metavar="JWT",
            help=f"Bearer token (else --token-file, ${TOKEN_VAR}, ${TOKEN_FILE_VAR}; a local "
            "secure stack: a dev token minted by the CLI).",
            show_default=False,
        ),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(metavar="PATH", help="File holding the bearer token (re-read on change)."),
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH",
            help=f"CA to trust (or ${CA_FILE_VAR}; default: the local stack's tls/ca.crt).",
        ),
    ] = None,
) -> None:
    """Operate a FundLedger stack: events, funds, snapshots, reallocations, files, health."""
    overrides = {
        "event-store": event_store,
        "projector": projector,
        "snapshotter": snapshotter,
        "allocation": allocation,
        "storage": storage,
        "nats": nats,
    }
    try:
        endpoints = resolve_endpoints(stack_dir.absolute(), overrides)
    except CliError as err:
        report(err)
        raise typer.Exit(int(err.exit_code)) from None
    ctx.obj = CliContext(
        endpoints=endpoints,
        timeout=timeout,
        stack_dir=stack_dir.absolute(),
        token=token,
        token_file=token_file,
        ca_file=ca_file,
    )


def main() -> None:
    app()
