"""What `make run` prints about calling the secure stack: the CA, a token command, grpcurl with
both, and never a token."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fundledger_devstack.__main__ import how_to_call
from fundledger_devstack.security import StackSecurity


def _stack(stack_dir: Path, security: StackSecurity | None) -> Any:
    services = [
        SimpleNamespace(spec=SimpleNamespace(name=name), address=f"127.0.0.1:{port}")
        for name, port in (("event-store", 50051), ("projector", 50052))
    ]
    return SimpleNamespace(
        services=services, security=security, config=SimpleNamespace(stack_dir=stack_dir)
    )


def test_a_secure_stack_tells_the_ca_the_token_command_and_grpcurl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    stack_dir = tmp_path / ".stack"
    security = StackSecurity.ensure(stack_dir)
    text = how_to_call(_stack(stack_dir, security))
    assert "CA to trust:  .stack/tls/ca.crt" in text
    assert "TOKEN=$(.venv/bin/fundledger auth token)" in text
    assert (
        '-cacert .stack/tls/ca.crt -H "authorization: Bearer $TOKEN" 127.0.0.1:50051 list' in text
    )
    assert "127.0.0.1:50052 fundledger.projector.v1.ProjectorService/ListFunds" in text
    assert "eyJ" not in text  # no JWT (their header always starts so)


def test_another_stack_dir_is_named_in_the_cli_commands(tmp_path: Path) -> None:
    stack_dir = tmp_path / "elsewhere"
    text = how_to_call(_stack(stack_dir, StackSecurity.ensure(stack_dir)))
    assert f"fundledger --stack-dir {stack_dir} auth token" in text


def test_a_plaintext_stack_says_so(tmp_path: Path) -> None:
    text = how_to_call(_stack(tmp_path, None))
    assert "FUNDLEDGER_STACK_SECURE=false" in text
    assert "grpcurl -plaintext 127.0.0.1:50051 list" in text
