"""Clients that keep appending to several funds while the stack is being killed: every append
carries an idempotency key and its own event ids, and a failure that may be transient (the
server gone, a deadline, a refused connection) is answered with the very same request again,
until the event store acknowledges it. What was acknowledged is recorded, per fund, for the
checks afterwards.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import grpc
from fundledger.eventstore.v1 import events_pb2, eventstore_pb2, eventstore_pb2_grpc
from fundledger_platform.eventstore_client import EventStoreClient

from tests.support.waiting import wait_until

CALL_SECONDS = 5.0
# How long one request may keep failing before the test gives up on the stack: far longer
# than any single outage the test causes (each is followed by a bounded wait for health).
GIVE_UP_SECONDS = 90.0
RETRY_PAUSE = 0.2
# Between two appends of one client: keeps the two cores for the services.
APPEND_PAUSE = 0.02
# Codes a client may retry with the same request (same key, same event ids): the server went
# away, was too slow, or was not ready yet. A replay returns the original result.
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.CANCELLED,
    }
)


def fund_event(event_type: str, data: dict[str, object]) -> events_pb2.EventData:
    return events_pb2.EventData(
        event_id=str(uuid.uuid4()),
        event_type=event_type,
        schema_version=1,
        data=json.dumps(data, separators=(",", ":")).encode(),
        correlation_id=str(uuid.uuid4()),
        user_id="fault-client",
        source="fault-test",
    )


def fund_created(fund_id: str) -> events_pb2.EventData:
    return fund_event(
        "FUND_CREATED",
        {
            "name": f"Faults {fund_id[-6:]}",
            "committed_capital_cents": 500_000_000_00,
            "currency": "USD",
            "vintage_year": 2025,
        },
    )


def business_events(rng: random.Random, serial: int) -> list[events_pb2.EventData]:
    """One to three events about a company of its own: added, invested in, revalued (in any
    order with other appends: the fold creates a company it has not seen, FM-17)."""
    company = f"co-{serial}-{uuid.uuid4().hex[:6]}"
    events = [fund_event("COMPANY_ADDED", {"company_id": company, "name": f"Company {serial}"})]
    if rng.random() < 0.7:
        amount = 1_000_00 * rng.randint(1, 500)
        events.append(
            fund_event("INVESTMENT_MADE", {"company_id": company, "amount_cents": amount})
        )
    if rng.random() < 0.5:
        value = 1_000_00 * rng.randint(1, 900)
        events.append(
            fund_event("VALUATION_UPDATED", {"company_id": company, "valuation_cents": value})
        )
    return events


@dataclass
class Acked:
    """One acknowledged append, as the event store answered it."""

    fund_id: str
    event_ids: list[str]
    first_version: int
    last_version: int
    replayed: bool


@dataclass
class Ledger:
    """What every client saw, shared by the clients of one test."""

    acked: list[Acked] = field(default_factory=list)
    # Retryable failures seen, by code (how much the faults were felt).
    retries: dict[str, int] = field(default_factory=dict)
    # A request that was never acknowledged (the test then fails).
    abandoned: list[str] = field(default_factory=list)

    def acked_count(self) -> int:
        return len(self.acked)

    def last_versions(self) -> dict[str, int]:
        last: dict[str, int] = {}
        for ack in self.acked:
            last[ack.fund_id] = max(last.get(ack.fund_id, 0), ack.last_version)
        return last


async def append_until_acked(
    stub: eventstore_pb2_grpc.EventStoreServiceAsyncStub,
    request: eventstore_pb2.AppendToStreamRequest,
    ledger: Ledger,
) -> Acked:
    """Sends ``request`` (the same one every time) until the event store answers it."""
    deadline = time.monotonic() + GIVE_UP_SECONDS
    while True:
        try:
            response = await stub.AppendToStream(request, timeout=CALL_SECONDS)
        except grpc.aio.AioRpcError as err:
            if err.code() not in RETRYABLE:
                raise
            name = err.code().name
            ledger.retries[name] = ledger.retries.get(name, 0) + 1
            if time.monotonic() >= deadline:
                ledger.abandoned.append(f"{request.stream_id} {request.idempotency_key}: {err}")
                raise AssertionError(
                    f"append to {request.stream_id} not acknowledged within "
                    f"{GIVE_UP_SECONDS:.0f}s; last error {name}: {err.details()}"
                ) from None
            await asyncio.sleep(RETRY_PAUSE)
            continue
        return _acknowledged(request, response, ledger)


async def create_funds(
    stub: eventstore_pb2_grpc.EventStoreServiceAsyncStub, funds: list[str], ledger: Ledger
) -> None:
    for fund_id in funds:
        request = eventstore_pb2.AppendToStreamRequest(
            stream_id=fund_id,
            expected_version=0,
            events=[fund_created(fund_id)],
            idempotency_key=f"create-{fund_id}",
        )
        ack = await append_until_acked(stub, request, ledger)
        assert ack.first_version == 1


async def append_via_service_client(
    client: EventStoreClient, request: eventstore_pb2.AppendToStreamRequest, ledger: Ledger
) -> Acked:
    """Sends ``request`` once through the client the services use (fundledger_platform): its
    own retries of an idempotent append are all there is; a failure fails the test."""
    try:
        response = await client.append(request)
    except grpc.aio.AioRpcError as err:
        ledger.abandoned.append(f"{request.stream_id} {request.idempotency_key}: {err}")
        raise
    return _acknowledged(request, response, ledger)


def _acknowledged(
    request: eventstore_pb2.AppendToStreamRequest,
    response: eventstore_pb2.AppendToStreamResponse,
    ledger: Ledger,
) -> Acked:
    sent = [event.event_id for event in request.events]
    assert list(response.event_ids) == sent, (request.stream_id, response)
    assert response.last_version - response.first_version + 1 == len(sent), response
    ack = Acked(
        request.stream_id, sent, response.first_version, response.last_version, response.replayed
    )
    ledger.acked.append(ack)
    return ack


Send = Callable[[eventstore_pb2.AppendToStreamRequest], Awaitable[Acked]]


async def client(index: int, send: Send, funds: list[str], keep_going: Callable[[], bool]) -> int:
    """Appends to random funds of ``funds`` (expected version ANY: the clients race each
    other on every fund) through ``send`` until ``keep_going`` says stop; the request in
    flight then still runs to its acknowledgement. Returns how many appends it made."""
    rng = random.Random(index)
    serial = 0
    while keep_going():
        serial += 1
        fund_id = rng.choice(funds)
        request = eventstore_pb2.AppendToStreamRequest(
            stream_id=fund_id,
            events=business_events(rng, index * 1_000_000 + serial),
            idempotency_key=f"client-{index}-{serial}",
        )
        await send(request)
        await asyncio.sleep(APPEND_PAUSE)
    return serial


class Clients:
    """Appending clients running until stopped, sharing one ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._running = True
        self._tasks: list[asyncio.Task[int]] = []

    def start(self, count: int, send: Send, funds: list[str]) -> None:
        self._tasks = [
            asyncio.create_task(client(i, send, funds, lambda: self._running)) for i in range(count)
        ]

    async def progress(self, count: int, what: str, seconds: float) -> None:
        """Until ``count`` more appends are acknowledged; fails at once if a client failed."""
        target = self.ledger.acked_count() + count

        async def moved() -> bool:
            for task in self._tasks:
                if task.done():
                    task.result()  # raises the client's failure
                    raise AssertionError("a client stopped on its own")
            return self.ledger.acked_count() >= target

        await wait_until(moved, f"{count} appends acknowledged {what}", seconds)

    async def stop(self, seconds: float) -> None:
        """Each finishes the request in flight; any client's failure is raised."""
        self._running = False
        async with asyncio.timeout(seconds):
            outcomes = await asyncio.gather(*self._tasks, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        assert not self.ledger.abandoned, self.ledger.abandoned
