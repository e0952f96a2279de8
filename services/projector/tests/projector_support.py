"""Builders, direct database access and bounded waits shared by the projector tests."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg
import grpc
import nats
from fundledger.eventstore.v1 import events_pb2
from fundledger.eventstore.v1 import eventstore_pb2 as es
from fundledger.fund.v1 import state_pb2
from fundledger.projector.v1 import projector_pb2 as pb
from fundledger_kernel.fund import FundState, empty_state, state_to_proto
from fundledger_kernel.fund.fold_input import LoggedEvent, fold_logged
from fundledger_platform.errors import error_info
from fundledger_platform.eventstore_client import EventStoreClient
from fundledger_platform.recorded import logged_event
from prometheus_client import REGISTRY

from tests.support.event_rows import UNREADABLE_PAYLOAD as UNREADABLE_PAYLOAD
from tests.support.event_rows import insert_raw_event, rewrite_payload
from tests.support.waiting import wait_until as base_wait_until

DEFAULT_WAIT = 15.0
# A CAPITAL_CALLED payload whose amount is not a number.


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


def investment_v2(
    company_id: str, amount: int, instrument: str, shares: int = 0, price_micros: int = 0
) -> events_pb2.EventData:
    """INVESTMENT_MADE at schema version 2 (instrument: a fund.v1.Instrument value name)."""
    data = event(
        "INVESTMENT_MADE",
        company_id=company_id,
        amount_cents=amount,
        instrument=instrument,
        shares=shares,
        price_per_share_micros=price_micros,
    )
    data.schema_version = 2
    return data


def valuation_v2(company_id: str, amount: int, method: str) -> events_pb2.EventData:
    """VALUATION_UPDATED at schema version 2 (method: a fund.v1.ValuationMethod value name)."""
    data = event("VALUATION_UPDATED", company_id=company_id, valuation_cents=amount, method=method)
    data.schema_version = 2
    return data


def effective(data: events_pb2.EventData, at: datetime) -> events_pb2.EventData:
    """`data` with its business time set (in the past: a backdated event)."""
    data.effective_at.FromDatetime(at)
    return data


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


async def read_logged(client: EventStoreClient, fund_id: str) -> list[LoggedEvent]:
    """The fund's events from the event store, as the apply path takes them."""
    return [logged_event(e) for e in await client.read_stream(fund_id)]


async def insert_unreadable_event(
    dsn: str, fund_id: str, version: int, event_type: str = "CAPITAL_CALLED"
) -> int:
    """Writes version `version` of the fund straight into the event store's table with a payload
    its schema rejects (a damaged row, or a schema that moved on); everything else as an append
    does it, so the relay publishes it and reads return it. Returns its position."""
    conn = await asyncpg.connect(dsn)
    try:
        return await insert_raw_event(
            conn, fund_id, version, event_type=event_type, raw_data=UNREADABLE_PAYLOAD
        )
    finally:
        await conn.close()


async def damage_event(dsn: str, fund_id: str, version: int) -> None:
    """Overwrites a stored event's payload with one its schema rejects."""
    conn = await asyncpg.connect(dsn)
    try:
        await rewrite_payload(conn, fund_id, version, UNREADABLE_PAYLOAD)
    finally:
        await conn.close()


async def stored_row(dsn: str, fund_id: str) -> dict[str, Any] | None:
    """The fund's projection row as stored (state as JSON text)."""
    conn = await asyncpg.connect(dsn)
    try:
        record = await conn.fetchrow(
            "SELECT version, position, fold_version, state::text AS state, updated_at, tenant "
            "FROM projector.fund_state WHERE fund_id = $1",
            fund_id,
        )
    finally:
        await conn.close()
    return None if record is None else dict(record)


async def overwrite_row(
    dsn: str, fund_id: str, fold_version: int, state: str, version: int | None = None
) -> None:
    """Replaces the fund's stored state and fold version (and version, if given), as a
    damaged row or another fold's deploy would leave it."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "UPDATE projector.fund_state SET fold_version = $2, state = $3::jsonb, "
            "version = coalesce($4, version) WHERE fund_id = $1",
            fund_id,
            fold_version,
            state,
            version,
        )
    finally:
        await conn.close()


async def get_state(
    stub: Any, fund_id: str, min_version: int = 0, deadline: float = DEFAULT_WAIT
) -> pb.GetFundStateResponse:
    response: pb.GetFundStateResponse = await stub.GetFundState(
        pb.GetFundStateRequest(fund_id=fund_id, min_version=min_version), timeout=deadline
    )
    return response


async def scratch_state(client: EventStoreClient, fund_id: str) -> FundState:
    """The fund's state folded here, from scratch, from every event in the log (the kernel's
    fold: upcast payloads, (effective_at, version) order)."""
    return fold_logged(empty_state(fund_id), await read_logged(client, fund_id))


async def folded_from_log(client: EventStoreClient, fund_id: str) -> state_pb2.FundState:
    """The fund's state folded here, independently, from every event in the log."""
    return state_to_proto(await scratch_state(client, fund_id))


def details(err: grpc.aio.AioRpcError) -> tuple[str, dict[str, str]]:
    info = error_info(err)
    assert info is not None, f"no ErrorInfo in {err}"
    return info.reason, dict(info.metadata)


def counter(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


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


async def wait_until(
    check: Callable[[], Awaitable[bool]], what: str, within: float = DEFAULT_WAIT
) -> None:
    """The shared wait, with the projector's longer default (its consumers ack in batches)."""
    await base_wait_until(check, what, within)
