"""`fundledger auth token`: a dev token from the local stack's dev issuer, for grpcurl and
scripts (`TOKEN=$(fundledger auth token)`).

Development only: the dev issuer's signing key lies unencrypted in the stack dir, and only a
stack started by `make run` trusts it. A deployment's tokens come from its identity provider.
"""

from __future__ import annotations

from typing import Annotated

import typer
from fundledger_devstack.dev_issuer import MAX_TTL_SECONDS
from fundledger_devstack.security import StackSecurity

from fundledger_cli.context import cli_context
from fundledger_cli.errors import CliError, ExitCode, reports_errors

app = typer.Typer(no_args_is_help=True, help="Tokens for a local stack (development only).")

DEFAULT_ROLES = ("fund-manager",)


@app.command("token")
@reports_errors
def token(
    ctx: typer.Context,
    sub: Annotated[str, typer.Option("--sub", help="Subject: the user the token names.")] = "dev",
    role: Annotated[
        list[str] | None,
        typer.Option(
            "--role",
            help="Role from the policy file (repeatable; default fund-manager; admin: everything).",
            show_default=False,
        ),
    ] = None,
    tenant: Annotated[str, typer.Option("--tenant", help='Tenant claim ("" for none).')] = "dev",
    ttl: Annotated[
        int, typer.Option("--ttl", min=1, max=int(MAX_TTL_SECONDS), help="Lifetime (s).")
    ] = 3600,
) -> None:
    """Print a person's token minted by the local stack's dev issuer: valid at every service of
    that stack, for --ttl seconds. Only the token goes to stdout."""
    stack_dir = cli_context(ctx).stack_dir
    security = StackSecurity.load(stack_dir)
    if security is None:
        raise CliError(
            f"{stack_dir} holds no dev issuer (no secure local stack)",
            ExitCode.USAGE,
            [
                "start one with `make run`, or point --stack-dir / FUNDLEDGER_STACK_DIR at it;",
                "a deployment's tokens come from its identity provider",
            ],
        )
    roles = tuple(role) if role else DEFAULT_ROLES
    minted = security.mint_person(sub, roles=roles, tenant=tenant or None, ttl_seconds=ttl)
    typer.echo(minted)
