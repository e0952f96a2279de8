"""The relay's PostgreSQL work per commit (issue 11), counted, never timed.

The relay runs here on a connection class that records every statement it sends (each is one
transaction: the relay never opens one). Its save and poll timers are set far beyond the test,
so every statement the count sees was caused by a commit's notification. Real PostgreSQL and
NATS; the bus is read back to show that the cheaper relay still publishes every event once, in
position order.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from eventstore.adapters.notifier import Notifier
from eventstore.adapters.relay import Relay
from eventstore.bootstrap import EventStore
from eventstore_relay_support import (
    append_events,
    assert_exactly_once_in_order,
    bus_client,
    bus_overrides,
    checkpoint,
    log_head,
    open_stub,
    read_bus,
    wait_bus_holds,
    wait_until,
)
from eventstore_support import new_stream
from prometheus_client import REGISTRY

StoreFactory = Callable[..., Awaitable[EventStore]]

COMMITS = 30
NEVER = 3600.0  # seconds: no timer of the relay fires during a test


class CountingConnection(asyncpg.Connection):  # type: ignore[misc]
    """Records the SQL of every statement sent through the public query methods."""

    statements: list[str]

    def _count(self, query: str) -> None:
        self.statements.append(" ".join(query.split()))

    async def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._count(query)
        return await super().execute(query, *args, **kwargs)

    async def fetch(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._count(query)
        return await super().fetch(query, *args, **kwargs)

    async def fetchval(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._count(query)
        return await super().fetchval(query, *args, **kwargs)

    async def fetchrow(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._count(query)
        return await super().fetchrow(query, *args, **kwargs)


def _counting_relay(
    store: EventStore,
    dsn: str,
    bus: dict[str, Any],
    notifier: Notifier | None = None,
    *,
    save_every: float = 0.5,
    poll_interval: float = NEVER,
) -> tuple[Relay, list[str]]:
    statements: list[str] = []

    async def connect(dsn: str) -> asyncpg.Connection:
        conn = await asyncpg.connect(dsn, connection_class=CountingConnection)
        conn.statements = statements
        return conn

    relay = Relay(
        dsn,
        store.bus.jetstream(),
        name="counted",
        subject_prefix=bus["bus_subject_prefix"],
        stream=bus["bus_stream"],
        poll_interval=poll_interval,
        save_after=NEVER,
        connect=connect,
        notifier=notifier,
        save_every=save_every,
    )
    return relay, statements


@dataclass
class _Run:
    bus: dict[str, Any]
    store: EventStore
    relay: Relay
    statements: list[str]
    conn: asyncpg.Connection  # the test's own, for reading and poking the database


@contextlib.asynccontextmanager
async def _relay_run(
    store_factory: StoreFactory,
    dsn: str,
    *,
    follow_notifier: bool = False,
    **options: float,
) -> AsyncIterator[_Run]:
    """An event store without a relay of its own and a counted relay beside it (following a
    notifier of its own when asked), stopped at the end."""
    bus = bus_overrides()
    store = await store_factory(relay_enabled=False, **bus)
    notifier = Notifier(dsn) if follow_notifier else None
    relay, statements = _counting_relay(store, dsn, bus, notifier, **options)
    conn = await asyncpg.connect(dsn)
    if notifier is not None:
        notifier.start()
    relay.start()
    try:
        yield _Run(bus, store, relay, statements, conn)
    finally:
        await relay.stop()
        if notifier is not None:
            await notifier.stop()
        await conn.close()


async def _assert_bus_exactly_once(url: str, bus: dict[str, Any], head: int) -> None:
    async with bus_client(url) as js:
        messages = await read_bus(js, bus["bus_stream"], bus["bus_subject_prefix"])
    assert_exactly_once_in_order(messages, head, bus["bus_subject_prefix"])


@pytest.mark.parametrize("wake", ["listen", "notifier"])
async def test_the_relay_sends_postgresql_one_statement_per_single_append_commit(
    store_factory: StoreFactory, fresh_dsn: str, nats_server: Any, wake: str
) -> None:
    """Single-event appends one after another, each published before the next (c1's shape,
    the relay's worst: one round per commit). Before issue 11 each such commit cost the relay
    4-5 statements (read the checkpoint, select, update the checkpoint, then a second round
    that read the checkpoint and found nothing); now one: the select, with the checkpoint
    check (and now and then its save) riding on it. The checkpoint reaches the table on stop.
    Woken by the process's notifier, the relay does not LISTEN itself (a listening backend
    costs PostgreSQL a transaction per commit)."""
    async with _relay_run(store_factory, fresh_dsn, follow_notifier=wake == "notifier") as run:
        bus, relay, statements, conn = run.bus, run.relay, run.statements, run.conn
        async with bus_client(nats_server.url) as js, open_stub(run.store) as stub:
            # Warm-up: leadership, the checkpoint's first read, the first publish. Once the bus
            # holds the event, the round that published it has sent its statement, and the
            # relay waits for the next notification (its timers never fire here).
            await append_events(stub, [new_stream("note")], 1)
            await wait_bus_holds(js, bus["bus_stream"], 1)
            before = len(statements)
            for n in range(2, COMMITS + 2):
                await append_events(stub, [new_stream("note")], 1)
                await wait_bus_holds(js, bus["bus_stream"], n)
            during = statements[before:]
        head = await log_head(conn)
        assert head == COMMITS + 1
        assert len(during) <= COMMITS, (
            f"{len(during)} relay statements for {COMMITS} commits: {sorted(set(during))}"
        )
        # Each of them selected what followed, checked the table's checkpoint and, at most
        # every `save_every`, saved the position published last (a time: not counted here).
        assert all(s.startswith("WITH cp AS (") for s in during), sorted(set(during))

        # Stop saves what the last round published: the table holds the head.
        await relay.stop()
        assert await checkpoint(conn, "counted") == head
        assert len(statements) == before + len(during) + 1
        listens = [s for s in statements if s.startswith("LISTEN")]
        assert len(listens) == (0 if wake == "notifier" else 1), statements
    await _assert_bus_exactly_once(nats_server.url, bus, head)


async def test_a_checkpoint_moved_under_the_leader_is_where_it_goes_on_from(
    store_factory: StoreFactory, fresh_dsn: str, nats_server: Any
) -> None:
    """The leader keeps its checkpoint in memory, but every round checks that the table still
    holds it: an operator who puts it back to 0 while the relay runs gets every event
    republished from there (JetStream drops the copies by Nats-Msg-Id), and the table is not
    overwritten with the relay's stale position."""
    # Every round saves.
    async with _relay_run(store_factory, fresh_dsn, save_every=0.0) as run:
        bus, relay, conn = run.bus, run.relay, run.conn
        async with bus_client(nats_server.url) as js, open_stub(run.store) as stub:
            # Two rounds at least, so the relay has saved a position above 0 (its guard
            # compares values: a rewind to the very value it holds would go unnoticed).
            await append_events(stub, [new_stream("note")], 2)
            await wait_bus_holds(js, bus["bus_stream"], 2)
            for _ in range(4):
                await append_events(stub, [new_stream("note")], 2)
            await wait_bus_holds(js, bus["bus_stream"], 10)
            # The relay holds 10 published and not saved (its save timer never fires); the
            # operator rewinds the table.
            await conn.execute(
                "UPDATE eventstore.relay_checkpoints SET position = 0 WHERE name = 'counted'"
            )
            before = _published_total()
            await append_events(stub, [new_stream("note")], 2)

            async def republished() -> bool:
                return _published_total() - before >= 12

            await wait_until(republished, "the relay to publish 1..12 again")
            await wait_bus_holds(js, bus["bus_stream"], 12)
        await relay.stop()
        assert await checkpoint(conn, "counted") == await log_head(conn) == 12
    await _assert_bus_exactly_once(nats_server.url, bus, 12)


def _published_total() -> float:
    return REGISTRY.get_sample_value("fundledger_eventstore_relay_published_total") or 0.0


async def test_a_relay_following_the_notifier_publishes_what_committed_while_it_was_down(
    store_factory: StoreFactory, fresh_dsn: str, nats_server: Any
) -> None:
    """FM-15 with the notifier as the relay's wake-up and no poll (its timers never fire
    here): the notifier's listening connection is terminated and events are appended while it
    reconnects; once it listens again it wakes the relay, which publishes them."""
    async with _relay_run(store_factory, fresh_dsn, follow_notifier=True) as run:
        bus, relay, conn = run.bus, run.relay, run.conn
        async with bus_client(nats_server.url) as js, open_stub(run.store) as stub:
            await append_events(stub, [new_stream("note")], 2)
            await wait_bus_holds(js, bus["bus_stream"], 2)
            killed = await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = 'event-store-notifier'"
            )
            assert killed >= 1
            await append_events(stub, [new_stream("note")], 3)
            await wait_bus_holds(js, bus["bus_stream"], 5)
        await relay.stop()
        assert await checkpoint(conn, "counted") == await log_head(conn) == 5
    await _assert_bus_exactly_once(nats_server.url, bus, 5)


async def test_a_relay_that_stops_following_the_notifier_publishes_by_polling(
    store_factory: StoreFactory, fresh_dsn: str, nats_server: Any
) -> None:
    """FM-15 with the notifier as the wake-up: drop_listener unfollows it; polling publishes."""
    async with _relay_run(store_factory, fresh_dsn, follow_notifier=True, poll_interval=0.2) as run:
        bus, relay = run.bus, run.relay

        async def listening_leader() -> bool:
            return relay.is_leader and relay.listening

        await wait_until(listening_leader, "the relay to lead and follow the notifier")
        await relay.drop_listener()
        assert not relay.listening
        async with bus_client(nats_server.url) as js, open_stub(run.store) as stub:
            for _ in range(3):
                await append_events(stub, [new_stream("note"), new_stream("note")], 3)
            await wait_bus_holds(js, bus["bus_stream"], 18)
        assert not any(s.startswith("LISTEN") for s in run.statements)
    await _assert_bus_exactly_once(nats_server.url, bus, 18)
