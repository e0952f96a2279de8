"""Builders and waits shared by the snapshotter tests."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
from fundledger.eventstore.v1 import events_pb2
from fundledger.eventstore.v1 import eventstore_pb2 as es
from fundledger.snapshotter.v1 import snapshotter_pb2 as pb

from tests.support.event_rows import delete_event, rewrite_payload
from tests.support.rpc_errors import metadata_of as metadata_of
from tests.support.rpc_errors import reason_of as reason_of
from tests.support.waiting import wait_until

if TYPE_CHECKING:  # snapshotter_stack imports this module
    from snapshotter_stack import Stack

# Safety net only: a wait that stalls fails the test instead of hanging it.
WAIT_SECONDS = 20.0
# Between appends, so consecutive events get distinct recorded_at values.
PAUSE_SECONDS = 0.03


def new_fund() -> str:
    return f"fund-{uuid.uuid4()}"


def ev(event_type: str, **data: Any) -> events_pb2.EventData:
    return events_pb2.EventData(event_type=event_type, data=json.dumps(data).encode())


def fund_created(committed: int = 100_000_000) -> events_pb2.EventData:
    return ev(
        "FUND_CREATED",
        name="Test Fund",
        committed_capital_cents=committed,
        currency="USD",
        vintage_year=2024,
    )


def company_added(company_id: str, name: str = "Acme") -> events_pb2.EventData:
    return ev("COMPANY_ADDED", company_id=company_id, name=name, allocation_cap_cents=5_000_000)


def investment(company_id: str, amount: int) -> events_pb2.EventData:
    return ev("INVESTMENT_MADE", company_id=company_id, amount_cents=amount, round="Seed")


def capital_called(amount: int) -> events_pb2.EventData:
    return ev("CAPITAL_CALLED", amount_cents=amount)


@dataclass(frozen=True)
class Appended:
    version: int
    recorded_at: datetime


async def append_one(stub: Any, fund_id: str, event: events_pb2.EventData) -> Appended:
    response = await stub.AppendToStream(
        es.AppendToStreamRequest(stream_id=fund_id, events=[event])
    )
    return Appended(response.last_version, response.recorded_at.ToDatetime(tzinfo=UTC))


async def append_spaced(
    stub: Any, fund_id: str, events: list[events_pb2.EventData]
) -> list[Appended]:
    """One append per event with a short pause between, so every event has its own time."""
    done = []
    for index, event in enumerate(events):
        if index:
            await asyncio.sleep(PAUSE_SECONDS)
        done.append(await append_one(stub, fund_id, event))
    for earlier, after in itertools.pairwise(done):
        assert after.recorded_at > earlier.recorded_at, "events need distinct times"
    return done


async def append_many(
    stub: Any, fund_id: str, count: int, *, new: bool = True, batch: int = 40
) -> None:
    """`count` events in batches: capital calls of 1 cent, after a FUND_CREATED if `new`."""
    written = 0
    while written < count:
        size = min(batch, count - written)
        first = fund_created() if new and written == 0 else capital_called(1)
        events = [first, *(capital_called(1) for _ in range(size - 1))]
        await stub.AppendToStream(es.AppendToStreamRequest(stream_id=fund_id, events=events))
        written += size


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll `check` until it holds; fail after WAIT_SECONDS."""
    await wait_until(check, what, WAIT_SECONDS)


async def list_all(api: Any, fund_id: str, page_size: int = 0) -> list[pb.Snapshot]:
    snapshots: list[pb.Snapshot] = []
    token = ""
    while True:
        page = await api.ListSnapshots(
            pb.ListSnapshotsRequest(fund_id=fund_id, page_size=page_size, page_token=token)
        )
        snapshots.extend(page.snapshots)
        token = page.next_page_token
        if not token:
            return snapshots


def midway(a: datetime, b: datetime) -> datetime:
    return a + (b - a) / 2


def later(moment: datetime, seconds: float) -> datetime:
    return moment + timedelta(seconds=seconds)


class ManualClock:
    """A Clock the test drives: now() is what the test says; each sleep() waits for release().

    A released sleep moves the clock forward by the seconds asked for, as if
    they had passed; `requests` shows what the sleeper asked for.
    """

    def __init__(self, now: datetime) -> None:
        self.current = now
        self.requests: asyncio.Queue[float] = asyncio.Queue()
        self._gate = asyncio.Event()

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        await self.requests.put(seconds)
        await self._gate.wait()
        self._gate.clear()
        self.current += timedelta(seconds=seconds)

    def release(self) -> None:
        self._gate.set()

    async def next_request(self) -> float:
        return await asyncio.wait_for(self.requests.get(), WAIT_SECONDS)


async def at_time(stack: Stack, fund_id: str, moment: datetime) -> pb.GetFundStateAtResponse:
    request = pb.GetFundStateAtRequest(fund_id=fund_id)
    request.at_time.FromDatetime(moment)
    response: pb.GetFundStateAtResponse = await stack.api.GetFundStateAt(request)
    return response


async def at_version(stack: Stack, fund_id: str, version: int) -> pb.GetFundStateAtResponse:
    response: pb.GetFundStateAtResponse = await stack.api.GetFundStateAt(
        pb.GetFundStateAtRequest(fund_id=fund_id, at_version=version)
    )
    return response


async def rewrite_stored_event(dsn: str, fund_id: str, version: int, data: Any) -> None:
    """Overwrites one stored event's payload in the event store's table, as an edit of the row
    (or a schema that moved on) would: the event store validated it on append, not since."""
    conn = await asyncpg.connect(dsn)
    try:
        await rewrite_payload(conn, fund_id, version, json.dumps(data))
    finally:
        await conn.close()


async def remove_stored_event(dsn: str, fund_id: str, version: int) -> None:
    """Deletes one stored event from the event store's table: a gap in the fund's log."""
    conn = await asyncpg.connect(dsn)
    try:
        await delete_event(conn, fund_id, version)
    finally:
        await conn.close()
