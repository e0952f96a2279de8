"""The authorization interceptor on a real grpc.aio server, for every handler kind, both ways:
allowed -> the handler runs; denied -> PERMISSION_DENIED naming the permission, and the handler
never ran (so nothing was written).

The probe service's descriptor (with its `requires` options) is added to the default pool here,
so the interceptor reads the permissions exactly as it reads the real services'. A Principal is
set by a small test interceptor in front (what authentication does in a service), from
`x-test-subject` / `x-test-groups` metadata, its roles from the policy's bindings.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from authorization_probe import ISSUER, METHODS, POLICY, SERVICE, Stack, _identity
from authorization_probe import stack as stack  # the fixture
from fundledger_platform.auth.authorization import (
    AuthorizationSettings,
    permitted,
    require,
)
from fundledger_platform.auth.policy import PolicyError
from fundledger_platform.errors import error_info
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import REGISTRY


async def _requests(*items: bytes) -> AsyncIterator[bytes]:
    for item in items:
        yield item


def _metadata(subject: str | None, groups: str) -> tuple[tuple[str, str], ...]:
    if subject is None:
        return ()
    return (("x-test-subject", subject), ("x-test-groups", groups))


async def call(
    stack: Stack,
    method: str,
    groups: str,
    payload: bytes = b"fund",
    subject: str | None = "ann",
    *,
    refused: bool = False,
) -> list[bytes]:
    """Calls `method` as a principal in `groups`; its responses (raises AioRpcError).

    `refused`: a call expected to be refused sends no request messages. grpc.aio's client
    turns a message it fails to send after the server has already ended the call into
    INTERNAL ("Failed execute_batch") instead of the server's status: a client-side race that
    says nothing about the server, which answers before reading any message.
    """
    _, client_streaming, server_streaming = METHODS[method]
    kind = ("stream" if client_streaming else "unary") + (
        "_stream" if server_streaming else "_unary"
    )
    callable_ = getattr(stack.channel, kind)(f"/{SERVICE}/{method}", _identity, _identity)
    metadata = _metadata(subject, groups)
    if client_streaming and refused:
        invocation = callable_(metadata=metadata, timeout=10)
    else:
        request: Any = _requests(payload, payload) if client_streaming else payload
        invocation = callable_(request, metadata=metadata, timeout=10)
    if server_streaming:
        return [item async for item in invocation]
    return [await invocation]


def assert_denied(err: grpc.aio.AioRpcError, permission: str) -> None:
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    info = error_info(err)
    assert info is not None
    assert info.reason == "PERMISSION_MISSING"
    assert dict(info.metadata) == {"permission": permission}
    assert permission in (err.details() or "")


# method, groups allowed, groups denied (holding other permissions), the permission named
CASES = [
    ("Read", "readers", "fund-writers,uploaders", "funds.read"),
    ("Watch", "readers", "uploaders", "events.subscribe"),
    ("Upload", "uploaders", "readers,fund-writers", "files.write"),
    ("Chat", "readers", "uploaders", "files.read"),
    ("Append", "fund-writers", "readers,uploaders", "events.append"),
    ("Rebuild", "admins", "readers,fund-writers,uploaders", "projections.rebuild"),
]


@pytest.mark.parametrize(("method", "allowed", "denied", "permission"), CASES)
async def test_a_caller_with_the_permission_reaches_the_handler(
    stack: Stack, method: str, allowed: str, denied: str, permission: str
) -> None:
    responses = await call(stack, method, allowed)
    assert responses
    assert stack.probe.ran == [method]


@pytest.mark.parametrize(("method", "allowed", "denied", "permission"), CASES)
async def test_a_caller_without_it_is_refused_before_the_handler(
    stack: Stack, method: str, allowed: str, denied: str, permission: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(stack, method, denied, refused=True)
    assert_denied(caught.value, permission)
    assert stack.probe.ran == []
    assert stack.probe.written == []


@pytest.mark.parametrize("method", [m for m, _, _, _ in CASES])
async def test_no_principal_or_no_role_is_refused(stack: Stack, method: str) -> None:
    permission = METHODS[method][0]
    assert permission is not None
    for subject, groups in ((None, ""), ("ann", ""), ("ann", "strangers")):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(stack, method, groups, subject=subject, refused=True)
        assert_denied(caught.value, permission)
    assert stack.probe.ran == []


async def test_a_request_dependent_permission_is_checked_by_the_service(stack: Stack) -> None:
    """`events.append:fund` passes the declared `events.append` gate for any category; the
    handler's require() refuses another category before it writes."""
    assert await call(stack, "Append", "fund-writers", b"fund") == [b"appended"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(stack, "Append", "fund-writers", b"file")
    assert_denied(caught.value, "events.append:file")
    assert stack.probe.written == [b"fund"]
    # An administrator holds every category.
    assert await call(stack, "Append", "admins", b"file") == [b"appended"]
    assert stack.probe.written == [b"fund", b"file"]


async def test_permitted_narrows_a_call_to_what_the_caller_may_see(stack: Stack) -> None:
    assert await call(stack, "Read", "readers") == [b"state+files"]
    assert await call(stack, "Read", "viewers") == [b"state"]


async def test_an_rpc_without_a_declared_permission_is_refused_to_everyone(stack: Stack) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(stack, "Undeclared", "admins")
    err = caught.value
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    info = error_info(err)
    assert info is not None
    assert info.reason == "PERMISSION_MISSING"
    assert dict(info.metadata) == {"method": f"/{SERVICE}/Undeclared"}
    assert stack.probe.ran == []


async def test_health_stays_open(stack: Stack) -> None:
    stub = health_pb2_grpc.HealthStub(stack.channel)
    response = await stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_a_policy_change_applies_to_the_next_call(stack: Stack) -> None:
    with pytest.raises(grpc.aio.AioRpcError):
        await call(stack, "Rebuild", "readers")
    fresh = stack.policy_path.with_suffix(".new")
    fresh.write_text(POLICY.replace("reader: [", "reader: [projections.rebuild, "))
    os.replace(fresh, stack.policy_path)
    assert await call(stack, "Rebuild", "readers") == [b"rebuilt"]
    assert stack.probe.ran == ["Rebuild"]


def test_require_allows_everything_when_authorization_is_off() -> None:
    """No authorization interceptor ran (none installed): the service-layer checks pass."""
    require("events.append:fund")
    assert permitted("projections.rebuild")


def test_settings_switch_authorization_on_only_with_a_policy_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FUNDLEDGER_AUTH_POLICY_FILE", raising=False)
    assert AuthorizationSettings.from_env() is None
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    monkeypatch.setenv("FUNDLEDGER_AUTH_POLICY_FILE", str(path))
    monkeypatch.setenv("FUNDLEDGER_AUTH_POLICY_CHECK_SECONDS", "7")
    settings = AuthorizationSettings.from_env()
    assert settings == AuthorizationSettings(policy_file=path, check_seconds=7.0)
    assert settings.load().current().allows({"reader"}, "files.read")
    path.write_text("roles: {reader: [Not Valid]}")
    with pytest.raises(PolicyError, match=str(path)):
        settings.load()


# -- visibility of refusals -------------------------------------------------------------------


def denied_count(method: str) -> float:
    labels = {"service": SERVICE, "method": method, "reason": "PERMISSION_MISSING"}
    return REGISTRY.get_sample_value("fundledger_auth_denied_total", labels) or 0.0


async def test_a_denial_counts_once_and_logs_who_was_refused(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    before = denied_count("Read")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(stack, "Read", "uploaders", refused=True)
    assert_denied(caught.value, "funds.read")
    assert denied_count("Read") - before == 1.0
    [record] = [r for r in caplog.records if r.getMessage() == "permission denied"]
    assert record.levelno == logging.WARNING
    fields = record.__dict__
    assert (fields["service"], fields["method"], fields["reason"]) == (
        SERVICE,
        "Read",
        "PERMISSION_MISSING",
    )
    assert (fields["principal_issuer"], fields["principal_subject"]) == (ISSUER, "ann")


async def test_a_service_layer_denial_counts_once(stack: Stack) -> None:
    before = denied_count("Append")
    with pytest.raises(grpc.aio.AioRpcError):
        await call(stack, "Append", "fund-writers", b"file")
    assert denied_count("Append") - before == 1.0


async def test_an_allowed_call_counts_no_denial(stack: Stack) -> None:
    before = denied_count("Read")
    assert await call(stack, "Read", "readers") == [b"state+files"]
    assert denied_count("Read") == before
