"""The restore drill's services and writers.

`Services` starts the event store, the projector and the snapshotter in-process on one
database and one NATS server, secure as the local stack runs them (TLS, tokens, the policy),
with a bus stream and subject prefix given by the caller: the restored services use the same
names as the originals, as a restored deployment would. `Writers` appends to several funds at
once, every append with an idempotency key, some sent twice (the second must be a replay),
bounded in count per fund; each acknowledgement is kept with the phase of the drill it
arrived in.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field, replace
from typing import Any

from eventstore import bootstrap as eventstore_bootstrap
from eventstore.bootstrap import EventStore
from fundledger.eventstore.v1 import events_pb2
from fundledger.eventstore.v1 import eventstore_pb2 as es
from fundledger_kernel.fund import FundState, empty_state, state_from_json
from fundledger_kernel.fund.fold_input import fold_logged
from fundledger_platform.eventstore_client import EventStoreClient
from fundledger_platform.recorded import logged_event
from projector import bootstrap as projector_bootstrap
from projector.bootstrap import Projector
from projector_stack import person_client, projector_settings
from snapshotter import bootstrap as snapshotter_bootstrap
from snapshotter.bootstrap import Snapshotter
from snapshotter_stack import snapshotter_settings

from tests.support.event_store import eventstore_settings
from tests.support.secure import SecureEnv
from tests.support.server_settings import loopback_server_settings

SNAPSHOT_EVERY = 20  # the snapshotter's count trigger in the drill
SNAPSHOTTER_DURABLE = "snapshotter"


@dataclass
class Services:
    """An event store, a projector and a snapshotter on `dsn` and `nats_url`."""

    secure: SecureEnv
    dsn: str
    nats_url: str
    bus: dict[str, str]
    store: EventStore | None = None
    projector: Projector | None = None
    snapshotter: Snapshotter | None = None
    client: EventStoreClient | None = None

    async def start(self) -> None:
        """Migrations of all three (on a restored database the event store's are all applied
        already, the read models' create their empty schemas), then the servers."""
        await eventstore_bootstrap.migrate(self.dsn)
        await projector_bootstrap.migrate(self.dsn)
        await snapshotter_bootstrap.migrate(self.dsn)
        settings = eventstore_settings(
            self.dsn,
            self.nats_url,
            server=self.secure.server_settings(loopback_server_settings("event-store")),
            **self.bus,
        )
        self.store = await eventstore_bootstrap.build(settings)
        await self.store.server.start()
        address = f"127.0.0.1:{self.store.server.port}"
        self.client = person_client(self.secure, self.store)
        self.projector = await projector_bootstrap.build(
            projector_settings(
                self.secure, self.dsn, self.nats_url, self.store.server.port, **self.bus
            ),
            eventstore_token=self.secure.service_token("projector"),
        )
        await self.projector.server.start()
        base = snapshotter_settings(
            self.dsn, self.nats_url, address, self.bus["bus_stream"], self.bus["bus_subject_prefix"]
        )
        snap_settings = replace(
            base,
            server=self.secure.server_settings(base.server),
            durable=SNAPSHOTTER_DURABLE,
            snapshot_every_events=SNAPSHOT_EVERY,
        )
        self.snapshotter = await snapshotter_bootstrap.build(
            snap_settings, eventstore_token=self.secure.service_token("snapshotter")
        )
        await self.snapshotter.server.start()

    async def stop(self) -> None:
        """Readers first, then the store (whose relay saves its checkpoint on stop). Twice is
        harmless."""
        client, self.client = self.client, None
        if client is not None:
            await client.close()
        snapshotter, self.snapshotter = self.snapshotter, None
        projector, self.projector = self.projector, None
        store, self.store = self.store, None
        for server in (snapshotter, projector, store):
            if server is not None:
                await server.server.stop(1.0)

    async def read_fund(self, fund_id: str) -> list[events_pb2.RecordedEvent]:
        assert self.client is not None
        return await self.client.read_stream(fund_id)


def fold(fund_id: str, events: list[events_pb2.RecordedEvent]) -> FundState:
    """The kernel's fold of ``events`` (a fund's log, or a prefix of it) from scratch."""
    return fold_logged(empty_state(fund_id), [logged_event(e) for e in events])


def stored_state(fund_id: str, text: str) -> FundState:
    return state_from_json(json.loads(text))


# -- writers -----------------------------------------------------------------------------


def _event(event_type: str, **data: Any) -> events_pb2.EventData:
    return events_pb2.EventData(event_type=event_type, data=json.dumps(data).encode())


def fund_batch(fund_id: str, n: int) -> list[events_pb2.EventData]:
    """The fund's n-th append (n from 0): creation, two companies, then a rotation of
    capital calls, investments and valuations in batches of one to three events."""
    if n == 0:
        return [
            _event(
                "FUND_CREATED",
                name=f"Drill {fund_id[-6:]}",
                committed_capital_cents=1_000_000_000,
                currency="USD",
                vintage_year=2024,
            ),
            _event("COMPANY_ADDED", company_id="c1", name="Acme", allocation_cap_cents=0),
            _event("COMPANY_ADDED", company_id="c2", name="Globex", allocation_cap_cents=0),
        ]
    batch = [_event("CAPITAL_CALLED", amount_cents=1000 + n)]
    if n % 2 == 0:
        batch.append(_event("INVESTMENT_MADE", company_id=f"c{1 + n % 2}", amount_cents=500 + n))
    if n % 3 == 0:
        batch.append(_event("VALUATION_UPDATED", company_id="c1", valuation_cents=10_000 * n))
    return batch


@dataclass(frozen=True)
class Ack:
    """One acknowledged append and the drill phase its acknowledgement arrived in."""

    fund_id: str
    key: str
    response: es.AppendToStreamResponse
    phase: str


@dataclass
class Writers:
    """One task per fund appending until stopped or `max_appends` (bounded count)."""

    client: EventStoreClient
    funds: list[str]
    max_appends: int = 400
    pause_seconds: float = 0.005
    phase: str = "before-backup"
    acks: list[Ack] = field(default_factory=list)
    replays: int = 0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        for fund_id in self.funds:
            self._tasks.append(asyncio.create_task(self._write(fund_id), name=f"writer {fund_id}"))

    def count(self, phase: str | None = None) -> int:
        return sum(1 for a in self.acks if phase is None or a.phase == phase)

    async def wait_for(self, count: int, phase: str, within: float = 30.0) -> None:
        """Until ``count`` appends were acknowledged in ``phase`` (bounded in time)."""
        deadline = time.monotonic() + within
        while self.count(phase) < count:
            for task in self._tasks:
                if task.done():
                    task.result()  # a writer's failure surfaces here
            if all(task.done() for task in self._tasks):
                raise AssertionError(f"the writers stopped after {self.count(phase)} in {phase}")
            if time.monotonic() >= deadline:
                raise AssertionError(f"only {self.count(phase)} appends in {phase} in {within}s")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _write(self, fund_id: str) -> None:
        for n in range(self.max_appends):
            if self._stop.is_set():
                return
            key = f"drill-{fund_id}-{n}"
            request = es.AppendToStreamRequest(
                stream_id=fund_id, events=fund_batch(fund_id, n), idempotency_key=key
            )
            response = await self.client.append(request)
            if n % 7 == 3:
                # A client that lost the answer sends it again: a replay, nothing appended.
                again = await self.client.append(request)
                assert again.replayed, f"{key} appended twice"
                assert list(again.event_ids) == list(response.event_ids)
                self.replays += 1
            self.acks.append(Ack(fund_id, key, response, self.phase))
            await asyncio.sleep(self.pause_seconds)
