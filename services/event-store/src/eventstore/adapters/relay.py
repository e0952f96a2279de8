"""The relay: publishes every committed event to JetStream, once, in position order.

Why it cannot skip a late commit: the log commits in position order (the
`log_head` row lock, see group_write.py), so once position p is visible every
position below it is too, and "read after the checkpoint" never misses one
(FM-1, docs/failure-modes.md). The checkpoint lives in PostgreSQL and moves only after JetStream
acknowledged the batch; a relay that dies between publish and checkpoint
publishes again, and JetStream drops the copies by Nats-Msg-Id = event id
within the stream's duplicate window (consumers also skip versions they have).

One active relay per database: the leader holds a session advisory lock on a
connection of its own, never one from the pool (FM-14) — a pooled
connection would carry the lock back into the pool and to some other task. If
that connection dies, PostgreSQL releases the lock and another replica's relay
takes over. LISTEN/NOTIFY only wakes the relay early; it polls regardless, so a
lost notification or a dropped listener delays nothing by more than the poll
interval (FM-15). The wake-up is the process's Notifier when given one (one listening backend
fewer: PostgreSQL runs a transaction per NOTIFY in every idle listener), else a LISTEN on the
relay's own connection.

PostgreSQL work per commit (issue 11): one statement, one transaction. The leader is the only
writer of its checkpoint while it holds the lock, so it reads the checkpoint once when it
takes over and then keeps it in memory; the checkpoint write rides on a round's select
(relay_queries.py) at most every `save_every` under a steady flow, a moment after the flow
stops (`save_after`), and on stop. The table trails what JetStream acknowledged, never leads
it: a relay that dies republishes up to `save_every` of events, which the duplicate window
(600 s by default) drops. A notification carries the group's last position; one at or below
what is already published wakes nothing, so no empty re-poll follows a commit a round already
took. If someone else moved the checkpoint (an operator resetting it), the round's guard
finds nothing and the checkpoint is read again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
from fundledger_kernel.streams import nats_token
from fundledger_platform.settings import DEFAULT_BUS_SUBJECT_PREFIX
from fundledger_platform.telemetry import inject_headers
from nats.js import JetStreamContext
from nats.js.errors import APIError, NoStreamResponseError

from eventstore.adapters.group_write import NOTIFY_CHANNEL
from eventstore.adapters.notifier import Notifier
from eventstore.adapters.records import to_recorded_event
from eventstore.adapters.relay_queries import CHECK_AND_SELECT, SAVE, SAVE_AND_SELECT
from eventstore.metrics import RELAY_IS_LEADER, RELAY_LAG_EVENTS, RELAY_PUBLISHED

log = logging.getLogger(__name__)

RELAY_LOCK_KEY = 0x46554E444C45  # "FUNDLE": one relay leader per database

_BEGINNING = datetime.min.replace(tzinfo=UTC)
_WRONG_LAST_MSG_ID = 10070  # JetStream's error code for a failed Nats-Expected-Last-Msg-Id


def _wrong_last_id(err: BaseException) -> bool:
    return isinstance(err, APIError) and err.err_code == _WRONG_LAST_MSG_ID


def subject_for(prefix: str, category: str, stream_id: str) -> str:
    """`<prefix>.<category>.<stream>`: consumers filter by category with a wildcard."""
    return f"{prefix}.{category}.{nats_token(stream_id)}"


class Relay:
    def __init__(
        self,
        dsn: str,
        js: JetStreamContext,
        *,
        name: str = "jetstream",
        subject_prefix: str = DEFAULT_BUS_SUBJECT_PREFIX,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        save_after: float = 0.05,
        save_every: float = 0.5,
        stream: str | None = None,
        ensure_stream: Callable[[], Awaitable[None]] | None = None,
        connect: Callable[[str], Awaitable[asyncpg.Connection]] | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self._dsn = dsn
        self._js = js
        self._name = name
        self._prefix = subject_prefix
        self._batch = batch_size
        self._poll = poll_interval
        # How long a published position may wait for the next round to save it before a
        # round of its own does: short, so the table follows an idle relay closely; longer
        # than the gap between commits under load, so those save it for free.
        self._save_after = min(save_after, poll_interval)
        # Under a steady flow, rounds save at most this often (an UPDATE per commit is most of
        # the relay's WAL and a good part of its CPU). What is published and not saved is
        # republished by a relay that dies, and dropped by JetStream's duplicate window
        # (600 s by default), so it must stay far below the window.
        self._save_every = save_every
        self._saved_when = 0.0  # loop time of the last save (or read)
        self._must_save = False  # the next round saves whatever the time
        self._stream = stream
        self._ensure_stream = ensure_stream
        self._connect = connect or (
            lambda dsn: asyncpg.connect(
                dsn, server_settings={"application_name": "event-store-relay"}
            )
        )
        # Woken by the process's notifier if given (one listening backend fewer: each costs
        # PostgreSQL a transaction per commit), else by a LISTEN on the relay's connection.
        self._notifier = notifier
        self._wake = asyncio.Event()
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self.is_leader = False
        self.listening = False
        self._drop_listener = False
        # The checkpoint as the table holds it (read when leading, then as we wrote it),
        # and the position JetStream acknowledged last (>= it; saved by a later round).
        self._saved: int | None = None
        self._done = 0
        # The highest position a notification told of.
        self._notified = 0
        # (position, its recorded_at, its event id) of the last published event.
        self._last: tuple[int, datetime, str] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="relay")

    async def stop(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            # Cancel until it is done: a library call inside (nats-py's publish
            # uses wait_for) may swallow one cancellation.
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=0.5)
        await self._save_published()
        await self._close()

    async def drop_listener(self) -> None:
        """Stops listening for notifications (the relay goes on by polling).

        The relay loop owns its connection (asyncpg runs one operation at a
        time), so this asks the loop to do it and waits, bounded."""
        self._drop_listener = True
        self._wake.set()
        for _ in range(100):
            if not self.listening:
                return
            await asyncio.sleep(0.05)

    async def _save_published(self) -> None:
        """On stop: saves what JetStream acknowledged and no round saved yet (best effort:
        the next leader republishes it otherwise, and the duplicate window drops it)."""
        conn, saved = self._conn, self._saved
        if conn is None or not self.is_leader or saved is None or self._done <= saved:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.execute(SAVE, self._name, self._done, saved), 2)
            self._saved = self._done

    async def _close(self) -> None:
        if self._notifier is not None:
            self._notifier.unfollow(self._notified_of)
        self.is_leader = False
        self.listening = False
        self._saved = None
        RELAY_IS_LEADER.set(0)
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)
            if not conn.is_closed():
                conn.terminate()

    def _on_notify(self, *args: object) -> None:
        # asyncpg's (connection, pid, channel, payload).
        self._notified_of(str(args[3]) if len(args) > 3 else None)

    def _notified_of(self, payload: str | None) -> None:
        try:
            position = int(payload) if payload is not None else self._done + 1
        except ValueError:
            position = self._done + 1  # not a position (or some may be lost): look anyway
        self._notified = max(self._notified, position)
        self._wake.set()

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await self._lead()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                # A leader that lost its connection resets the count: backoff is
                # for a database that keeps refusing us, not for old blips.
                failures = 1 if self.is_leader else failures + 1
                log.warning("relay lost its connection or leadership: %s", err)
                await self._close()
                await asyncio.sleep(min(self._poll * 2 ** (failures - 1), 5.0))

    async def _lead(self) -> None:
        self._conn = conn = await self._connect(self._dsn)
        # A follower polls for the lock: pg_advisory_lock would block a
        # connection that we also need to notice being terminated.
        while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK_KEY):  # noqa: ASYNC110
            await asyncio.sleep(self._poll)
        self.is_leader = True
        RELAY_IS_LEADER.set(1)
        log.info("relay %s is the leader", self._name)
        if self._notifier is not None:
            self._notifier.unfollow(self._notified_of)
            self._notifier.follow(self._notified_of)
        else:
            await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
        self.listening = True
        await conn.execute(
            "INSERT INTO eventstore.relay_checkpoints (name, position) VALUES ($1, 0) "
            "ON CONFLICT DO NOTHING",
            self._name,
        )
        # The checkpoint as the last leader left it (this one may have been a leader before:
        # what it remembers is not the table's).
        await self._read_checkpoint(conn)
        while True:
            if self._drop_listener and self.listening:
                if self._notifier is not None:
                    self._notifier.unfollow(self._notified_of)
                else:
                    await conn.remove_listener(NOTIFY_CHANNEL, self._on_notify)
                self.listening = False
            published = await self.publish_pending(conn)
            if published < self._batch:
                await self._idle()

    async def _idle(self) -> None:
        """Waits for a notification of a position not published yet, or until it is time to
        save the checkpoint (`save_after`) or to poll."""
        pending = self._saved is not None and self._done > self._saved
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a
        # cancel that lands in the same step as the wake-up, and stop()
        # would then wait forever.
        try:
            async with asyncio.timeout(self._save_after if pending else self._poll):
                while self._notified <= self._done and not (self._drop_listener and self.listening):
                    self._wake.clear()
                    await self._wake.wait()
        except TimeoutError:
            self._must_save = pending

    async def _read_checkpoint(self, conn: asyncpg.Connection) -> int:
        self._saved = self._done = await self._table_checkpoint(conn)
        self._saved_when = asyncio.get_running_loop().time()
        return self._done

    async def _table_checkpoint(self, conn: asyncpg.Connection) -> int:
        value = await conn.fetchval(
            "SELECT position FROM eventstore.relay_checkpoints WHERE name = $1", self._name
        )
        if value is None:  # deleted under us: start over, as a first relay would
            await conn.execute(
                "INSERT INTO eventstore.relay_checkpoints (name, position) VALUES ($1, 0) "
                "ON CONFLICT DO NOTHING",
                self._name,
            )
            value = 0
        return int(value)

    async def publish_pending(self, conn: asyncpg.Connection) -> int:
        """Publishes one batch after the checkpoint; returns how many it published.

        One statement on the ordinary path: it selects the batch after the position published
        last and, when it is time (`save_every`, or idle for `save_after`), saves that
        position."""
        if self._saved is None:
            await self._read_checkpoint(conn)
        saved, checkpoint = self._saved, self._done
        assert saved is not None
        since, last_id = await self._last_published(conn, checkpoint)
        notified = self._notified
        now = asyncio.get_running_loop().time()
        due = self._must_save or now - self._saved_when >= self._save_every
        save = checkpoint > saved and due
        rows = await conn.fetch(
            SAVE_AND_SELECT if save else CHECK_AND_SELECT,
            self._name,
            checkpoint,
            since,
            self._batch,
            saved,
        )
        holds = checkpoint if save else saved  # what the table holds now, unless moved
        if not rows:
            # Nothing new, or the table does not hold what we expected (the UPDATE or the
            # EXISTS found no row): read it; a moved checkpoint is where we go on from.
            table = await self._table_checkpoint(conn)
            if table != holds:
                log.warning("relay checkpoint moved under us to %s", table)
                self._saved = self._done = table
                self._saved_when = now
                return 0
            if self._notified == notified:
                # Whatever was notified before this select is visible to it: a position
                # beyond what it found (events deleted under us) must not keep us busy.
                self._notified = min(notified, self._done)
        if save:
            self._saved, self._saved_when, self._must_save = checkpoint, now, False
        if not rows:
            RELAY_LAG_EVENTS.set(0)
            return 0
        # Pipelined, yet never out of order: each message carries
        # Nats-Expected-Last-Msg-Id = the previous event's id, so JetStream
        # refuses a message whose predecessor is not stored (a failed or lost
        # publish, an outage with client-side buffering), and everything after
        # it fails too. A republish after a crash is still acknowledged as a
        # duplicate: JetStream checks Nats-Msg-Id before the expectation
        # (checked against nats-server 2.15; see tests/test_relay_faults.py).
        publishes = []
        expected = last_id
        for row in rows:
            publishes.append(asyncio.ensure_future(self._publish(row, expected)))
            expected = str(row["event_id"])
        acks = await asyncio.gather(*publishes, return_exceptions=True)
        done, done_at, done_id = checkpoint, since, last_id
        failure: BaseException | None = None
        for row, ack in zip(rows, acks, strict=True):
            if isinstance(ack, BaseException):
                failure = ack
                break
            done, done_at, done_id = row["position"], row["recorded_at"], str(row["event_id"])
        if failure is not None:
            log.warning("publish of position %s failed: %s", done + 1, failure)
            if done == checkpoint and _wrong_last_id(failure):
                # The bus does not hold our last message (its store was wiped,
                # or the message aged out): nothing of ours is in flight, so
                # publish the first one without the expectation and go on.
                with contextlib.suppress(Exception):
                    await self._publish(rows[0], "")
                    done, done_at = rows[0]["position"], rows[0]["recorded_at"]
                    done_id = str(rows[0]["event_id"])
            elif isinstance(failure, NoStreamResponseError) and self._ensure_stream is not None:
                # The bus lost its stream (wiped store, recreated server): the
                # log is the source of truth, so recreate it and go on.
                with contextlib.suppress(Exception):
                    await self._ensure_stream()
            if done == checkpoint:
                await asyncio.sleep(self._poll)
        if done > checkpoint:
            # Saved by the next round (or on stop): only ever what JetStream acknowledged.
            self._done = done
            self._last = (done, done_at, done_id)
            RELAY_PUBLISHED.inc(done - checkpoint)
        if len(rows) < self._batch and done == rows[-1]["position"]:
            RELAY_LAG_EVENTS.set(0)
        else:
            head = int(await conn.fetchval("SELECT last_position FROM eventstore.log_head"))
            RELAY_LAG_EVENTS.set(head - done)
        return done - checkpoint

    async def _last_published(
        self, conn: asyncpg.Connection, position: int
    ) -> tuple[datetime, str]:
        """The recorded_at and event id of the event at the checkpoint.

        The time bounds the relay's query: recorded_at never decreases with
        position (group_write.py), so it bounds everything after the checkpoint,
        and PostgreSQL skips every older day partition (measured: ~2 ms of
        database CPU per poll with 380 partitions otherwise). The id is what the
        next publish expects JetStream's last message to be. Kept in memory;
        looked up again whenever the checkpoint moved under us (a new leader,
        an operator resetting it)."""
        if self._last is not None and self._last[0] == position:
            return self._last[1], self._last[2]
        row = await conn.fetchrow(
            "SELECT recorded_at, event_id FROM eventstore.events WHERE position = $1", position
        )
        last = (_BEGINNING, "") if row is None else (row["recorded_at"], str(row["event_id"]))
        self._last = (position, *last)
        return last

    async def _publish(self, row: asyncpg.Record, expected_last_id: str) -> object:
        event = to_recorded_event(row)
        headers = {"Nats-Msg-Id": event.event_id}
        if expected_last_id:
            headers["Nats-Expected-Last-Msg-Id"] = expected_last_id
        traceparent = event.metadata.get("traceparent")
        if traceparent:
            headers["traceparent"] = traceparent
        else:
            headers = inject_headers(headers)
        return await self._js.publish(
            subject_for(self._prefix, event.category, event.stream_id),
            event.SerializeToString(),
            stream=self._stream,
            headers=headers,
        )
