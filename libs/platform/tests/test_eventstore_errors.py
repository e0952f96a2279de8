"""What a failed event-store call means to the calling service, and which appends the client
sends again. The retry cases run against a real grpc.aio server that answers AppendToStream."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import grpc
import pytest
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger.eventstore.v1 import eventstore_pb2_grpc
from fundledger.eventstore.v1.events_pb2 import EventData
from fundledger_platform.errors import (
    Aborted,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Reason,
    to_status,
)
from fundledger_platform.eventstore_client import EventStoreClient, is_idempotent
from fundledger_platform.eventstore_errors import (
    actual_version,
    eventstore_error,
    eventstore_unavailable,
)


def _rpc_error(code: grpc.StatusCode, details: str, err: object = None) -> grpc.aio.AioRpcError:
    trailing = grpc.aio.Metadata()
    if err is not None:
        status = to_status(err)  # type: ignore[arg-type]
        trailing = grpc.aio.Metadata(*status.trailing_metadata)
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailing, details)


def test_a_refusal_is_forwarded_with_the_stores_code_and_reason() -> None:
    refused = FailedPrecondition("key reused", reason=Reason.IDEMPOTENCY_KEY_REUSED)
    err = eventstore_error(_rpc_error(grpc.StatusCode.FAILED_PRECONDITION, "key reused", refused))
    assert (err.code, err.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED")
    assert err.metadata["eventstore_code"] == "FAILED_PRECONDITION"


def test_a_refusal_without_a_registered_reason_is_event_store_rejected() -> None:
    err = eventstore_error(_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "bad"))
    assert (err.code, err.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "EVENT_STORE_REJECTED")


def test_a_conflict_keeps_aborted_and_the_actual_version() -> None:
    conflict = Aborted(
        "wrong version", reason=Reason.WRONG_EXPECTED_VERSION, metadata={"actual_version": "7"}
    )
    rpc = _rpc_error(grpc.StatusCode.ABORTED, "wrong version", conflict)
    assert actual_version(rpc) == 7
    err = eventstore_error(rpc)
    assert (err.code, err.reason) == (grpc.StatusCode.ABORTED, "WRONG_EXPECTED_VERSION")
    assert actual_version(_rpc_error(grpc.StatusCode.ABORTED, "no details")) is None


def test_refusals_of_the_person_a_service_acts_for_are_theirs() -> None:
    missing = NotFound("no such stream", reason=Reason.STREAM_NOT_FOUND)
    err = eventstore_error(_rpc_error(grpc.StatusCode.NOT_FOUND, "no such stream", missing))
    assert (err.code, err.reason) == (grpc.StatusCode.NOT_FOUND, "STREAM_NOT_FOUND")
    denied = PermissionDenied(
        "permission events.append:file required",
        reason=Reason.PERMISSION_MISSING,
        metadata={"permission": "events.append:file"},
    )
    err = eventstore_error(_rpc_error(grpc.StatusCode.PERMISSION_DENIED, denied.message, denied))
    assert (err.code, err.reason) == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_MISSING")
    assert err.metadata["permission"] == "events.append:file"


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    ],
)
def test_anything_else_is_our_dependency_failing(code: grpc.StatusCode) -> None:
    for err in (
        eventstore_error(_rpc_error(code, "x")),
        eventstore_unavailable(_rpc_error(code, "x")),
    ):
        assert (err.code, err.reason) == (grpc.StatusCode.UNAVAILABLE, "EVENT_STORE_UNAVAILABLE")
        assert err.metadata == {"eventstore_code": code.name}


def _append(key: str = "", ids: tuple[str, ...] = ("",)) -> pb.AppendToStreamRequest:
    return pb.AppendToStreamRequest(
        stream_id="user-1",
        idempotency_key=key,
        events=[EventData(event_id=i, event_type="E", data=b"{}") for i in ids],
    )


def test_which_appends_are_idempotent() -> None:
    assert is_idempotent(_append(key="k"))
    assert is_idempotent(_append(ids=("a", "b")))
    assert not is_idempotent(_append(ids=("a", "")))
    assert not is_idempotent(_append())


class _Flaky(eventstore_pb2_grpc.EventStoreServiceServicer):
    """Fails the first `failures` appends with `code`, then answers."""

    def __init__(self) -> None:
        self.failures = 0
        self.code = grpc.StatusCode.UNAVAILABLE
        self.calls = 0
        self.down_until = 0.0  # also fails every call before this time.monotonic()
        self.port = 0

    async def AppendToStream(
        self, request: pb.AppendToStreamRequest, context: grpc.aio.ServicerContext
    ) -> pb.AppendToStreamResponse:
        self.calls += 1
        if self.calls <= self.failures or time.monotonic() < self.down_until:
            await context.abort(self.code, "flaky")
        return pb.AppendToStreamResponse(first_version=1, last_version=1, replayed=self.calls > 1)


@pytest.fixture
async def flaky() -> AsyncIterator[tuple[_Flaky, EventStoreClient]]:
    server = grpc.aio.server()
    servicer = _Flaky()
    eventstore_pb2_grpc.add_EventStoreServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    servicer.port = port
    await server.start()
    client = EventStoreClient(f"127.0.0.1:{port}", timeout_seconds=5)
    yield servicer, client
    await client.close()
    await server.stop(None)


async def test_an_idempotent_append_is_sent_again_after_an_unknown_outcome(
    flaky: tuple[_Flaky, EventStoreClient],
) -> None:
    servicer, client = flaky
    servicer.failures = 2
    response = await client.append(_append(key="k"))
    assert servicer.calls == 3
    assert response.replayed


async def test_a_non_idempotent_append_is_sent_once(flaky: tuple[_Flaky, EventStoreClient]) -> None:
    servicer, client = flaky
    servicer.failures = 1
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.append(_append())
    assert (caught.value.code(), servicer.calls) == (grpc.StatusCode.UNAVAILABLE, 1)


async def test_a_refusal_is_never_retried(flaky: tuple[_Flaky, EventStoreClient]) -> None:
    servicer, client = flaky
    servicer.failures, servicer.code = 1, grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError):
        await client.append(_append(key="k"))
    assert servicer.calls == 1


async def test_retries_ride_out_an_outage_of_seconds(
    flaky: tuple[_Flaky, EventStoreClient],
) -> None:
    # A PostgreSQL switchover or an event-store restart: seconds of UNAVAILABLE.
    servicer, client = flaky
    servicer.down_until = time.monotonic() + 3.0
    response = await client.append(_append(key="k"))
    assert response.replayed
    assert servicer.calls >= 3  # pauses grow: not a call every 100 ms for three seconds


async def test_retries_are_bounded_by_the_retry_time(
    flaky: tuple[_Flaky, EventStoreClient],
) -> None:
    servicer, _ = flaky
    short = EventStoreClient(
        f"127.0.0.1:{servicer.port}", timeout_seconds=5, append_retry_seconds=1
    )
    servicer.failures = 100
    try:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await short.append(_append(key="k"))
    finally:
        await short.close()
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    # Pauses of 0.1, 0.2 and 0.4 s fit in one second; the next (0.8 s) does not.
    assert 2 <= servicer.calls <= 4


def test_invalid_argument_class_is_used_for_field_refusals() -> None:
    refused = InvalidArgument("bad", reason=Reason.INVALID_PAYLOAD, field="events[0].data")
    err = eventstore_error(_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "bad", refused))
    assert isinstance(err, InvalidArgument)
    assert err.reason == "INVALID_PAYLOAD"
