"""Authentication and authorization on every RPC of every service of the real stack.

The RPCs come from the generated descriptors (hostile_cases.discover), so a new RPC is covered
without editing this file. Against the session's whole stack (secure, as `make run` is):

- no token, an expired one, a wrong issuer, a wrong audience, a bad signature, ``alg: none``
  (and the other forgeries of tests/support/auth.py) -> UNAUTHENTICATED with the right reason;
- a valid token whose roles lack the RPC's declared permission (no roles at all; a fund-viewer,
  for what a viewer may not do) -> PERMISSION_DENIED PERMISSION_MISSING naming the permission,
  and not one row written anywhere in PostgreSQL;
- plaintext (no TLS) -> UNAVAILABLE; health stays open without a token;
- finally, no text of any token used here appears in any log file of the stack.

The request sent is an empty message (a client stream sends none): both checks come before the
handler reads it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from fundledger_devstack.dev_issuer import DevIssuer
from fundledger_devstack.security import audience_of
from fundledger_devstack.stack_access import admin_dsn
from fundledger_platform.auth.authorization import declared_permission
from fundledger_platform.auth.policy import Policy
from grpc_health.v1 import health_pb2

from tests.contract.hostile_cases import Rpc
from tests.contract.stack_calls import (
    ALL_RPCS,
    call,
    endpoint_of,
    grpc_endpoints,
    row_counts,
    serving,
)
from tests.support.auth import BadTokens, bearer, token_parts
from tests.support.full_stack import FullStack

EMPTY = b""
# Calls in flight at once: enough to be quick, few enough for a shared two-core machine.
PARALLEL_CALLS = 8
# The forgeries this test sends, and the reason each must get (tests/support/auth.py).
FORGERIES = (
    "malformed",
    "expired",
    "not_yet_valid",
    "wrong_issuer",
    "wrong_audience",
    "bad_signature",
    "alg_none",
    "hs256_key_confusion",
    "unknown_kid",
    "missing_sub",
)
# Valid tokens without the permission: a person with no roles, and a viewer.
LACKING = {"no roles": (), "fund-viewer": ("fund-viewer",)}

# Every token this module sends; the last test looks for each in the stack's logs.
SENT_TOKENS: list[str] = []


@dataclass(frozen=True)
class Stack:
    full: FullStack
    channels: dict[str, grpc.aio.Channel]  # endpoint -> TLS channel carrying no token
    endpoint_of: dict[str, str]  # gRPC service full name -> endpoint

    def channel(self, rpc: Rpc) -> grpc.aio.Channel:
        return self.channels[self.endpoint_of[rpc.service]]

    def endpoint(self, rpc: Rpc) -> str:
        return self.endpoint_of[rpc.service]


@pytest.fixture(scope="module")
async def stack(full_stack: FullStack) -> AsyncIterator[Stack]:
    security = full_stack.security
    channels = {
        name: grpc.aio.secure_channel(address, security.channel_credentials(None))
        for name, address in grpc_endpoints(full_stack).items()
    }
    try:
        yield Stack(full_stack, channels, await endpoint_of(channels))
    finally:
        for channel in channels.values():
            await channel.close(None)


async def _bounded(jobs: list[Callable[[], Coroutine[Any, Any, str | None]]]) -> list[str]:
    gate = asyncio.Semaphore(PARALLEL_CALLS)

    async def run(job: Callable[[], Coroutine[Any, Any, str | None]]) -> str | None:
        async with gate:
            return await job()

    results = await asyncio.gather(*(run(job) for job in jobs))
    return [result for result in results if result is not None]


def _sent(token: str) -> str:
    SENT_TOKENS.append(token)
    return token


# -- authentication ------------------------------------------------------------------------------


async def test_every_rpc_refuses_a_missing_or_forged_token(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("forgeries")
    issuer = stack.full.security.issuer
    stranger = DevIssuer(root / "stranger", issuer="https://stranger.example")
    forged: dict[str, dict[str, tuple[str, str]]] = {}  # endpoint -> name -> (token, reason)
    for endpoint in set(stack.endpoint_of.values()):
        every = BadTokens(issuer, audience_of(endpoint), stranger).all()
        forged[endpoint] = {name: every[name] for name in FORGERIES}
        for token, _ in forged[endpoint].values():
            _sent(token)

    def job(rpc: Rpc, label: str, token: str | None, reason: str) -> Any:
        async def check() -> str | None:
            metadata = bearer(token) if token is not None else ()
            answer = await call(stack.channel(rpc), rpc, EMPTY, metadata, stream_message=False)
            if answer.code is grpc.StatusCode.UNAUTHENTICATED and answer.reason == reason:
                return None
            return f"{rpc.name} with {label}: {answer} (expected UNAUTHENTICATED {reason})"

        return check

    jobs = []
    for rpc in ALL_RPCS:
        jobs.append(job(rpc, "no token", None, "TOKEN_MISSING"))
        for name, (token, reason) in forged[stack.endpoint(rpc)].items():
            jobs.append(job(rpc, name, token, reason))
    failures = await _bounded(jobs)
    assert not failures, "\n".join(failures)


# -- authorization -------------------------------------------------------------------------------


async def test_every_rpc_refuses_a_caller_without_its_permission(stack: Stack) -> None:
    security = stack.full.security
    policy = Policy.load(security.policy_file)
    tokens = {
        label: _sent(security.mint_person(f"lacking-{i}", roles=roles, tenant="dev"))
        for i, (label, roles) in enumerate(LACKING.items())
    }
    dsn = admin_dsn(stack.full.stack_dir, stack.full.endpoints["postgres"])
    before = await row_counts(dsn)

    def job(rpc: Rpc, label: str, permission: str) -> Any:
        async def check() -> str | None:
            answer = await call(
                stack.channel(rpc), rpc, EMPTY, bearer(tokens[label]), stream_message=False
            )
            if (
                answer.code is grpc.StatusCode.PERMISSION_DENIED
                and answer.reason == "PERMISSION_MISSING"
                and answer.metadata.get("permission") == permission
            ):
                return None
            return f"{rpc.name} as {label}: {answer} (expected PERMISSION_MISSING {permission})"

        return check

    jobs = []
    checked: set[str] = set()
    for rpc in ALL_RPCS:
        permission = declared_permission(rpc.path)
        assert permission is not None, f"{rpc.name} declares no permission"
        for label, roles in LACKING.items():
            if policy.allows(roles, permission):
                continue  # a viewer may read: not this test's business
            checked.add(f"{rpc.name} as {label}")
            jobs.append(job(rpc, label, permission))
    failures = await _bounded(jobs)
    assert not failures, "\n".join(failures)
    # A viewer must not write: every write RPC was among the refused calls.
    for write in (
        "EventStoreService.AppendToStream",
        "AllocationService.CommitReallocation",
        "ProjectorService.RebuildProjection",
        "SnapshotterService.CreateSnapshot",
        "StorageService.UploadFile",
        "StorageService.DeleteFile",
    ):
        assert f"{write} as fund-viewer" in checked
    assert await row_counts(dsn) == before


# -- transport and probes ------------------------------------------------------------------------


async def test_plaintext_is_refused(stack: Stack) -> None:
    failures = []
    for name, address in grpc_endpoints(stack.full).items():
        async with grpc.aio.insecure_channel(address) as channel:
            rpc = next(rpc for rpc in ALL_RPCS if stack.endpoint(rpc) == name)
            token = _sent(stack.full.security.mint_person("plaintext"))
            answer = await call(channel, rpc, EMPTY, bearer(token))
            if answer.code is not grpc.StatusCode.UNAVAILABLE:
                failures.append(f"{name} over plaintext: {answer}")
            if await serving(channel, "") != health_pb2.HealthCheckResponse.UNKNOWN:
                failures.append(f"{name} answered health over plaintext")
    assert not failures, "\n".join(failures)


async def test_health_is_open_without_a_token(stack: Stack) -> None:
    for service, endpoint in stack.endpoint_of.items():
        channel = stack.channels[endpoint]
        assert await serving(channel, service) == health_pb2.HealthCheckResponse.SERVING
        assert await serving(channel, "") == health_pb2.HealthCheckResponse.SERVING


# -- last: nothing leaked ------------------------------------------------------------------------


def test_no_token_text_in_any_log(stack: Stack) -> None:
    assert SENT_TOKENS, "run with the tests above: they collect the tokens"
    logs = sorted(Path(stack.full.stack_dir).rglob("*.log"))
    assert logs, f"no log files under {stack.full.stack_dir}"
    leaks = []
    for log in logs:
        text = log.read_text(errors="replace")
        for token in SENT_TOKENS:
            for part in token_parts(token):
                if part in text:
                    leaks.append(f"{log.name}: {part[:24]}…")
    assert not leaks, "\n".join(sorted(set(leaks)))
