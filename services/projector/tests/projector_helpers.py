"""Builders and bounded waits shared by the projector tests."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Any

import grpc
import nats
from fundledger.eventstore.v1 import events_pb2
from fundledger.eventstore.v1 import eventstore_pb2 as es
from fundledger.fund.v1 import state_pb2
from fundledger.projector.v1 import projector_pb2 as pb
from fundledger_kernel.fund import decode_event, empty_state, project, state_to_proto
from fundledger_platform.errors import error_info
from fundledger_platform.eventstore_client import EventStoreClient
from prometheus_client import REGISTRY

DEFAULT_WAIT = 15.0


def new_fund() -> str:
    return f"fund-{uuid.uuid4()}"


def event(event_type: str, **data: Any) -> events_pb2.EventData:
    return events_pb2.EventData(event_type=event_type, data=json.dumps(data).encode())


def fund_created(name: str = "Fund I", committed: int = 10_000_000) -> events_pb2.EventData:
    return event(
        "FUND_CREATED",
        name=name,
        committed_capital_cents=committed,
        currency="USD",
        vintage_year=2024,
    )


def company_added(company_id: str, name: str, cap: int = 0) -> events_pb2.EventData:
    return event("COMPANY_ADDED", company_id=company_id, name=name, allocation_cap_cents=cap)


def investment(company_id: str, amount: int) -> events_pb2.EventData:
    return event("INVESTMENT_MADE", company_id=company_id, amount_cents=amount)


def capital_called(amount: int) -> events_pb2.EventData:
    return event("CAPITAL_CALLED", amount_cents=amount)


def valuation(company_id: str, amount: int) -> events_pb2.EventData:
    return event("VALUATION_UPDATED", company_id=company_id, valuation_cents=amount)


def distribution(amount: int) -> events_pb2.EventData:
    return event("DISTRIBUTION_MADE", amount_cents=amount)


async def append(
    store: Any, stream_id: str, *events: events_pb2.EventData
) -> es.AppendToStreamResponse:
    """Appends through the event store's gRPC API (store: an EventStoreClient)."""
    response: es.AppendToStreamResponse = await store.append(
        es.AppendToStreamRequest(stream_id=stream_id, events=list(events))
    )
    return response


async def get_state(
    stub: Any, fund_id: str, min_version: int = 0, deadline: float = DEFAULT_WAIT
) -> pb.GetFundStateResponse:
    response: pb.GetFundStateResponse = await stub.GetFundState(
        pb.GetFundStateRequest(fund_id=fund_id, min_version=min_version), timeout=deadline
    )
    return response


async def folded_from_log(client: EventStoreClient, fund_id: str) -> state_pb2.FundState:
    """The fund's state folded here, independently, from every event in the log."""
    events = await client.read_stream(fund_id)
    state = project(
        empty_state(fund_id),
        (
            decode_event(e.event_type, e.data, e.version, e.recorded_at.ToDatetime(tzinfo=UTC))
            for e in events
        ),
    )
    return state_to_proto(state)


def details(err: grpc.aio.AioRpcError) -> tuple[str, dict[str, str]]:
    info = error_info(err)
    assert info is not None, f"no ErrorInfo in {err}"
    return info.reason, dict(info.metadata)


def counter(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


async def wait_until(
    check: Callable[[], Awaitable[bool]], what: str, within: float = DEFAULT_WAIT
) -> None:
    """Polls `check` every 50 ms until it is true; fails after `within` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {within:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)


async def wait_all_acknowledged(nats_url: str, stream: str, durable: str = "projector") -> None:
    """Wait until the projector's durable consumer has nothing pending or unacknowledged."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()

        async def all_acknowledged() -> bool:
            info = await js.consumer_info(stream, durable)
            return bool(info.num_ack_pending == 0 and info.num_pending == 0)

        await wait_until(all_acknowledged, "the redelivered messages to be acknowledged")
    finally:
        await nc.close()
