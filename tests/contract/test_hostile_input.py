"""No caller mistake is ever INTERNAL: every RPC of every service, sent hostile values.

The RPCs come from the generated descriptors (hostile_cases.discover), so a new RPC or field is
covered without editing this file. For each RPC one field at a time gets each hostile value of
its type (strings with NUL, 5,000 characters, path traversal, control characters; bytes that are
not UTF-8 or not a JSON object, fund payloads with floats and duplicate keys; integers at their
type's extremes and -1; timestamps in year 1 and 9999 and out of range; unknown enum numbers;
repeated fields and maps with 10,000 elements), the other fields holding a valid base request
(SEEDS, by field name). Client streams also get their messages out of order.

Each call must come back within CALL_SECONDS (the client's own DEADLINE_EXCEEDED is a hang), with
OK or a status that is not INTERNAL, UNKNOWN or UNAVAILABLE and carries a registered ErrorInfo
reason. A refused write must have written nothing (WRITE_CHECKS), and afterwards every service
still answers health SERVING. Runs against the session's whole stack (tests/support/full_stack.py),
which is secure: every call goes over TLS with a valid admin's token, so what is judged is the
hostile value itself, past authentication and authorization.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from fundledger_platform.errors import error_info
from fundledger_platform.reasons import Reason
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2

from tests.contract.hostile_cases import (
    Case,
    Rpc,
    StreamOrder,
    discover,
    field_cases,
    stream_orders,
)
from tests.contract.hostile_probe import (
    CALL_SECONDS,
    WRITE_CHECKS,
    Probe,
    call_metadata,
    member_messages,
    message_class,
)
from tests.contract.stack_calls import endpoint_of, grpc_endpoints, serving
from tests.support.full_stack import FullStack

# A server stream is read this far, then cancelled; after its first message (the answer) a pause
# this long means a live stream with nothing more to send yet (Subscribe never ends by itself).
STREAM_MESSAGES = 20
STREAM_IDLE_SECONDS = 0.5
# Hostile calls of one read-only RPC in flight at once (writes go one at a time, see WRITE_CHECKS).
PARALLEL_CALLS = 8
# The stack is up: a caller's value must never be reported as a fault or an outage.
FORBIDDEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.UNAVAILABLE}
# gRPC refuses a message over the server's size limit itself, without our ErrorInfo.
WITHOUT_REASON = {grpc.StatusCode.RESOURCE_EXHAUSTED}

SERVICES = discover()


# -- calling ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    code: grpc.StatusCode
    details: str = ""
    reason: str | None = None


async def _requests(messages: Sequence[Message]) -> AsyncIterator[Message]:
    for message in messages:
        yield message


async def invoke(channel: grpc.aio.Channel, rpc: Rpc, messages: Sequence[Message]) -> Outcome:
    method = rpc.method
    serialize = message_class(method.input_type).SerializeToString
    deserialize = message_class(method.output_type).FromString
    timeout, metadata = CALL_SECONDS, call_metadata()
    try:
        if method.client_streaming and method.server_streaming:
            await _drain(
                channel.stream_stream(rpc.path, serialize, deserialize)(
                    _requests(messages), timeout=timeout, metadata=metadata
                )
            )
        elif method.client_streaming:
            await channel.stream_unary(rpc.path, serialize, deserialize)(
                _requests(messages), timeout=timeout, metadata=metadata
            )
        elif method.server_streaming:
            await _drain(
                channel.unary_stream(rpc.path, serialize, deserialize)(
                    messages[0], timeout=timeout, metadata=metadata
                )
            )
        else:
            await channel.unary_unary(rpc.path, serialize, deserialize)(
                messages[0], timeout=timeout, metadata=metadata
            )
    except grpc.aio.AioRpcError as err:
        info = error_info(err)
        return Outcome(err.code(), err.details() or "", None if info is None else info.reason)
    return Outcome(grpc.StatusCode.OK)


async def _drain(call: Any) -> None:
    """Reads a server stream: its first message within the call's deadline, then up to
    STREAM_MESSAGES while they keep coming; an error on the way is raised."""
    responses = call.__aiter__()
    try:
        for count in range(STREAM_MESSAGES):
            try:
                if count == 0:
                    await anext(responses)
                else:
                    await asyncio.wait_for(anext(responses), STREAM_IDLE_SECONDS)
            except StopAsyncIteration:
                return
            except TimeoutError:
                return  # live, and nothing more to send yet
    finally:
        call.cancel()


def judge(outcome: Outcome) -> str | None:
    """What is wrong with an answer to a hostile call; None when nothing is."""
    code = outcome.code
    if code is grpc.StatusCode.OK:
        return None
    if code is grpc.StatusCode.DEADLINE_EXCEEDED and outcome.reason is None:
        return f"no answer within {CALL_SECONDS:g} s (hangs)"
    if code in FORBIDDEN:
        return f"{code.name}: {outcome.details[:200]!r}"
    if outcome.reason is None and code not in WITHOUT_REASON:
        return f"{code.name} without an ErrorInfo reason: {outcome.details[:200]!r}"
    if outcome.reason is not None and outcome.reason not in Reason.__members__:
        return f"{code.name} with unregistered reason {outcome.reason!r}"
    return None


@dataclass(frozen=True)
class Attempt:
    field: str
    kind: str
    messages: list[Message]


async def attempts(rpc: Rpc, probe: Probe) -> AsyncIterator[Attempt]:
    """Each hostile request (or request stream) of one RPC, built just before it is sent."""
    cases: list[Case] = list(field_cases(rpc.method.input_type))
    for case in cases:
        base, members = await member_messages(rpc, probe, hostile=case.field)
        case.mutate(base)
        follow = [] if not rpc.method.client_streaming else _following(base, members)
        yield Attempt(case.field, case.kind, [base, *follow])
    if rpc.method.client_streaming:
        orders: list[StreamOrder] = stream_orders(rpc.method.input_type)
        for order in orders:
            _, members = await member_messages(rpc, probe)
            cls = message_class(rpc.method.input_type)
            messages = [cls() if m is None else members[m] for m in order.members]
            yield Attempt("(message order)", order.kind, messages)


def _following(base: Message, members: dict[str, Message]) -> list[Message]:
    """The messages after the first of a client stream: the oneof members it does not carry."""
    carried = {
        base.WhichOneof(oneof.name) for oneof in base.DESCRIPTOR.oneofs if len(oneof.fields) > 1
    }
    return [message for name, message in members.items() if name not in carried]


async def one_call(rpc: Rpc, probe: Probe, attempt: Attempt) -> str | None:
    """One hostile call; what went wrong with it, named by RPC, field and value kind."""
    channel = probe.channels[probe.endpoint_of[rpc.service]]
    check = WRITE_CHECKS.get(rpc.name)
    before = None if check is None else await check.read(probe, attempt.messages)
    outcome = await invoke(channel, rpc, attempt.messages)
    label = f"{rpc.name} {attempt.field} ({attempt.kind})"
    problem = judge(outcome)
    if problem is not None:
        return f"{label}: {problem}"
    if outcome.code is not grpc.StatusCode.OK and check is not None:
        after = await check.read(probe, attempt.messages)
        if after != before:
            return (
                f"{label}: refused with {outcome.code.name} ({outcome.reason}) but wrote"
                f" something: {before!r} -> {after!r}"
            )
    return None


async def hostile_calls(rpc: Rpc, probe: Probe) -> list[str]:
    """Every hostile call of one RPC: a write RPC's one after the other, each built just before
    it is sent (its base reads the fund's current version; its write check reads before and
    after), a read RPC's a few at a time. The failures, named."""
    if rpc.name in WRITE_CHECKS:
        found = [await one_call(rpc, probe, attempt) async for attempt in attempts(rpc, probe)]
    else:
        parallel = asyncio.Semaphore(PARALLEL_CALLS)

        async def bounded(attempt: Attempt) -> str | None:
            async with parallel:
                return await one_call(rpc, probe, attempt)

        found = await asyncio.gather(*[bounded(a) async for a in attempts(rpc, probe)])
    return [failure for failure in found if failure is not None]


# -- the stack ----------------------------------------------------------------------------------


@dataclass
class Stack:
    channels: dict[str, grpc.aio.Channel]
    endpoint_of: dict[str, str]  # gRPC service full name -> endpoint name
    probe: Probe


@pytest.fixture(scope="module")
async def stack(full_stack: FullStack) -> AsyncIterator[Stack]:
    # An admin of tenant "dev": allowed every RPC, so no refusal is a missing permission.
    channels = {
        name: full_stack.secure.channel(address)
        for name, address in grpc_endpoints(full_stack).items()
    }
    try:
        # Which endpoint serves which service: the one whose health knows it.
        endpoints = await endpoint_of(channels)
        probe = Probe(channels, endpoints)
        await probe.create_fund()
        yield Stack(channels, endpoints, probe)
    finally:
        for channel in channels.values():
            await channel.close(None)


@pytest.mark.parametrize("service", list(SERVICES), ids=lambda s: s.rsplit(".", 1)[-1])
async def test_hostile_values_are_refused_never_internal(stack: Stack, service: str) -> None:
    results = await asyncio.gather(*(hostile_calls(rpc, stack.probe) for rpc in SERVICES[service]))
    failures = [failure for result in results for failure in result]
    # Every service, not only this one, still serves: nothing hostile took one down.
    not_serving = [
        f"{name} ({endpoint})"
        for name, endpoint in stack.endpoint_of.items()
        if await serving(stack.channels[endpoint], name) != health_pb2.HealthCheckResponse.SERVING
    ]
    assert not failures, f"{len(failures)} hostile calls failed:\n" + "\n".join(failures)
    assert not not_serving, f"not SERVING after the hostile calls: {not_serving}"
