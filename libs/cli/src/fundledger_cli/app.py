"""The `fundledger` command (placeholder until the commands land)."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="Operate a FundLedger stack.")


@app.callback()
def root() -> None:
    """Operate a FundLedger stack."""


def main() -> None:
    app()
