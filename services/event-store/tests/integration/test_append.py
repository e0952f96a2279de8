"""AppendToStream: expected versions, atomic batches, limits, payload validation."""

from __future__ import annotations

import json
import uuid
from typing import Any

import grpc
import pytest
from eventstore.bootstrap import EventStore
from eventstore_support import (
    append,
    collect,
    event,
    metadata_of,
    new_stream,
    read_versions,
    reason_of,
)
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger_platform.errors import bad_request


async def count_rows(store: EventStore, stream_id: str) -> tuple[int, int | None]:
    events = await store.pool.fetchval(
        "SELECT count(*) FROM eventstore.events WHERE stream_id = $1", stream_id
    )
    version = await store.pool.fetchval(
        "SELECT version FROM eventstore.streams WHERE stream_id = $1", stream_id
    )
    return int(events), version


async def test_expected_versions(stub: Any) -> None:
    s = new_stream()
    first = await stub.AppendToStream(
        append(s, event(), event(), expected_state=pb.STREAM_STATE_NO_STREAM)
    )
    assert (first.first_version, first.last_version) == (1, 2)
    assert first.last_position == first.first_position + 1
    assert not first.replayed
    second = await stub.AppendToStream(append(s, event(), expected_version=2))
    assert second.first_version == 3
    third = await stub.AppendToStream(
        append(s, event(), expected_state=pb.STREAM_STATE_STREAM_EXISTS)
    )
    assert third.first_version == 4
    anyway = await stub.AppendToStream(append(s, event()))
    assert anyway.first_version == 5
    assert await read_versions(stub, s) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("fields", "actual", "exists"),
    [
        ({"expected_version": 1}, "2", "true"),
        ({"expected_version": 0}, "2", "true"),
        ({"expected_state": pb.STREAM_STATE_NO_STREAM}, "2", "true"),
    ],
)
async def test_wrong_version_is_aborted_with_actual_version(
    stub: Any, store: EventStore, fields: dict[str, Any], actual: str, exists: str
) -> None:
    s = new_stream()
    await stub.AppendToStream(append(s, event(), event()))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.AppendToStream(append(s, event(), event(), event(), **fields))
    assert caught.value.code() == grpc.StatusCode.ABORTED
    assert reason_of(caught.value) == "WRONG_EXPECTED_VERSION"
    meta = metadata_of(caught.value)
    assert meta["actual_version"] == actual
    assert meta["stream_exists"] == exists
    assert await count_rows(store, s) == (2, 2)


async def test_stream_exists_on_missing_stream_is_aborted(stub: Any, store: EventStore) -> None:
    s = new_stream()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.AppendToStream(append(s, event(), expected_state=pb.STREAM_STATE_STREAM_EXISTS))
    assert caught.value.code() == grpc.StatusCode.ABORTED
    assert metadata_of(caught.value)["stream_exists"] == "false"
    assert await count_rows(store, s) == (0, None)


async def test_batch_is_atomic_when_one_event_is_invalid(stub: Any, store: EventStore) -> None:
    s = new_stream()
    bad = event("CAPITAL_CALLED", {"amountCents": "12.5"})
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.AppendToStream(append(s, event(), bad, event()))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "events[1].data.amountCents" in (caught.value.details() or "")
    assert await count_rows(store, s) == (0, None)


async def test_empty_append_is_rejected_and_version_unchanged(stub: Any, store: EventStore) -> None:
    """FM-7: an empty append must not wedge the stream's version."""
    s = new_stream()
    await stub.AppendToStream(append(s, event()))
    for fields in ({}, {"expected_version": 1}):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.AppendToStream(append(s, **fields))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert reason_of(caught.value) == "EMPTY_APPEND"
    assert await count_rows(store, s) == (1, 1)
    assert (await stub.AppendToStream(append(s, event(), expected_version=1))).last_version == 2


async def test_over_limit_appends_are_rejected(stub: Any, store: EventStore) -> None:
    """Limits in the test settings: 100 events, 64 KiB an event, 256 KiB a batch."""
    s = new_stream()
    cases = [
        ([event() for _ in range(101)], "TOO_MANY_EVENTS"),
        ([event(data={"blob": "x" * 70_000})], "EVENT_TOO_LARGE"),
        ([event(data={"blob": "x" * 60_000}) for _ in range(5)], "APPEND_TOO_LARGE"),
    ]
    for events, reason in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.AppendToStream(append(s, *events))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert reason_of(caught.value) == reason
    assert await count_rows(store, s) == (0, None)


@pytest.mark.parametrize(
    ("event_type", "data", "field"),
    [
        ("INVESTMENT_MADE", {"companyId": "c1", "amountCents": 5, "bogus": 1}, "data.bogus"),
        ("INVESTMENT_MADE", {"companyId": "c1", "amountCents": 10.5}, "data.amountCents"),
        ("INVESTMENT_MADE", {"companyId": "c1", "amountCents": 100.0}, "data.amountCents"),
        ("INVESTMENT_MADE", {"companyId": "c1"}, "data.amount_cents"),
        ("FUND_CREATED", {"name": 7, "committedCapitalCents": 1, "currency": "USD"}, "data.name"),
    ],
)
async def test_fund_payloads_are_validated_naming_the_field(
    stub: Any, store: EventStore, event_type: str, data: dict[str, Any], field: str
) -> None:
    s = new_stream()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.AppendToStream(append(s, event(event_type, data)))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = bad_request(caught.value)
    assert violations is not None
    assert violations.field_violations[0].field == f"events[0].{field}"
    assert await count_rows(store, s) == (0, None)


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"12", b"not json", b""])
async def test_non_object_data_is_rejected(stub: Any, raw: bytes) -> None:
    from fundledger.eventstore.v1 import events_pb2

    request = append(new_stream(), events_pb2.EventData(event_type="NOTE_ADDED", data=raw))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.AppendToStream(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_other_event_types_accept_any_json_object(stub: Any) -> None:
    s = new_stream("note")
    data = {"nested": {"list": [1, 2.5, None, True]}, "text": "héllo"}
    await stub.AppendToStream(append(s, event("SOMETHING_ELSE", data)))
    got = await collect(stub.ReadStream(pb.ReadStreamRequest(stream_id=s)))
    assert json.loads(got[0].data) == data


@pytest.mark.parametrize(
    "stream_id", ["", "fund", "Fund-1", "fund-", "-1", "fund-a b", "fund-a*", "f" * 300]
)
async def test_malformed_stream_ids_are_rejected(stub: Any, stream_id: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.AppendToStream(append(stream_id, event()))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason_of(caught.value) == "STREAM_ID_INVALID"


async def test_bad_event_fields_are_rejected(stub: Any) -> None:
    same = str(uuid.uuid4())
    cases = [
        ([event(event_id="not-a-uuid")], "FIELD_MALFORMED", "events[0].event_id"),
        ([event(event_id=same), event(event_id=same)], "DUPLICATE_EVENT_ID", "events"),
        ([event(event_type="")], "FIELD_REQUIRED", "events[0].event_type"),
        ([event(metadata={"k": "a\x00b"})], "FIELD_MALFORMED", "events[0].metadata['k']"),
        ([event(user_id="u" * 201)], "FIELD_TOO_LONG", "events[0].user_id"),
    ]
    for events, reason, field in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.AppendToStream(append(new_stream(), *events))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (reason_of(caught.value), metadata_of(caught.value)["field"]) == (reason, field)


async def test_bad_append_fields_are_rejected(stub: Any) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"expected_version": -1}, "EXPECTED_VERSION_INVALID", "expected_version"),
        ({"expected_state": 99}, "FIELD_MALFORMED", "expected_state"),
        ({"idempotency_key": "k" * 201}, "FIELD_TOO_LONG", "idempotency_key"),
    ]
    for fields, reason, field in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.AppendToStream(append(new_stream(), event(), **fields))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (reason_of(caught.value), metadata_of(caught.value)["field"]) == (reason, field)
