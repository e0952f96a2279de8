"""How the CLI authenticates against the secure stack: `auth token`, --token, the token
variables, and what a refused credential looks like (status, reason, exit code, no token)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import jwt
from fundledger.projector.v1 import projector_pb2, projector_pb2_grpc
from fundledger_cli.app import app
from fundledger_cli.errors import ExitCode
from typer.testing import CliRunner

from tests.support.secure import CHANNEL_OPTIONS

Cli = Any  # conftest.CliDriver

NOTE = '{"text":"hello"}'
# The developer's own settings must not leak into the tests without a stack.
_CLEAN = {"FUNDLEDGER_TOKEN": None, "FUNDLEDGER_TOKEN_FILE": None, "FUNDLEDGER_CA_FILE": None}


def _append(cli: Cli, stream: str, *, expect: int, **kwargs: Any) -> Any:
    return cli.run("events", "append", stream, "-t", "NOTE", "-d", NOTE, expect=expect, **kwargs)


def test_auth_token_is_accepted_by_a_service(cli: Cli) -> None:
    result = cli.run("auth", "token", "--sub", "bob", "--role", "fund-viewer", "--ttl", "120")
    token = result.stdout.strip()
    assert result.stdout == token + "\n"  # only the token: TOKEN=$(fundledger auth token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["sub"], claims["roles"], claims["tenant"]) == ("bob", ["fund-viewer"], "dev")
    assert claims["exp"] - claims["iat"] <= 121
    security = cli.stack.security
    with grpc.secure_channel(
        cli.stack.address("projector"),
        security.channel_credentials(token),
        options=list(CHANNEL_OPTIONS),
    ) as channel:
        stub = projector_pb2_grpc.ProjectorServiceStub(channel)
        stub.ListFunds(projector_pb2.ListFundsRequest(page_size=1), timeout=30)


def test_auth_token_defaults_to_a_fund_manager_of_tenant_dev(cli: Cli) -> None:
    token = cli.run("auth", "token").stdout.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["sub"], claims["roles"], claims["tenant"]) == ("dev", ["fund-manager"], "dev")


def test_expired_token_is_unauthenticated_and_never_printed(cli: Cli, fund_id: str) -> None:
    expired = cli.stack.secure.token("carol", roles=("admin",), ttl_seconds=-120)
    result = _append(cli, fund_id, root=["--token", expired], expect=ExitCode.UNAUTHENTICATED)
    assert "UNAUTHENTICATED" in result.output
    assert "reason: TOKEN_EXPIRED" in result.output
    assert "sent the token from --token" in result.output
    assert expired not in result.output
    assert cli.version(fund_id) == 0


def test_invalid_token_from_the_environment_is_unauthenticated(cli: Cli, fund_id: str) -> None:
    garbage = "not.a-jwt.at-all"
    result = _append(
        cli, fund_id, env={"FUNDLEDGER_TOKEN": garbage}, expect=ExitCode.UNAUTHENTICATED
    )
    assert "reason: TOKEN_" in result.output
    assert "sent the token from FUNDLEDGER_TOKEN" in result.output
    assert garbage not in result.output
    assert cli.version(fund_id) == 0


def test_token_file_is_used(cli: Cli, fund_id: str, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(cli.stack.secure.token("dana", roles=("fund-manager",)) + "\n")
    cli.run(
        "events",
        "append",
        fund_id,
        "-t",
        "FUND_CREATED",
        "-d",
        '{"name":"Dana Fund","committed_capital_cents":100,"currency":"USD"}',
        "-e",
        "no-stream",
        env={"FUNDLEDGER_TOKEN_FILE": str(token_file)},
    )
    assert cli.version(fund_id) == 1


def test_fund_viewer_cannot_append(cli: Cli, fund_id: str, tmp_path: Path) -> None:
    token_file = tmp_path / "viewer"
    token_file.write_text(cli.stack.secure.token("erin", roles=("fund-viewer",)))
    result = _append(
        cli,
        fund_id,
        env={"FUNDLEDGER_TOKEN_FILE": str(token_file)},
        expect=ExitCode.PERMISSION_DENIED,
    )
    assert "PERMISSION_DENIED" in result.output
    assert "reason: PERMISSION_MISSING" in result.output
    assert "permission: events.append" in result.output
    assert cli.version(fund_id) == 0


def test_the_command_line_beats_the_environment(cli: Cli, fund_id: str, tmp_path: Path) -> None:
    viewer = tmp_path / "viewer"
    viewer.write_text(cli.stack.secure.token("erin", roles=("fund-viewer",)))
    manager = cli.stack.secure.token("dana", roles=("fund-manager",))
    env = {"FUNDLEDGER_TOKEN_FILE": str(viewer)}
    _append(cli, fund_id, root=["--token", manager], env=env, expect=0)
    assert cli.version(fund_id) == 1


def test_missing_token_file_is_a_usage_error(cli: Cli, fund_id: str, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = _append(cli, fund_id, root=["--token-file", str(missing)], expect=ExitCode.USAGE)
    assert "cannot read the token file" in result.output


# -- without a secure stack (no full stack needed) -------------------------------------------------


def test_no_token_is_sent_in_plaintext(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["--stack-dir", str(tmp_path), "--token", "secret-token", "fund", "list"], env=_CLEAN
    )
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "only ever sent over TLS" in result.output
    assert "secret-token" not in result.output


def test_auth_token_needs_a_dev_issuer(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--stack-dir", str(tmp_path), "auth", "token"], env=_CLEAN)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "holds no dev issuer" in result.output
    assert not (tmp_path / "auth").exists()  # nothing made on the way
