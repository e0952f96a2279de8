"""One group commit: the appends of a group, applied together in one statement.

Why groups: positions must become visible in the order they are assigned (FM-1,
docs/failure-modes.md), so every append transaction holds the single `log_head` row lock until
it commits. Commits are therefore serial, and the only way to go fast is to make each commit
carry many appends (the queue that forms groups is the append use case,
service_layer/append.py, which calls this adapter through its GroupWriter port). Each append
still succeeds or fails on its own: a version conflict in one does not touch the others.

Why one statement: the whole group — idempotency keys, version checks, event-id claims, ONE
move of each head, positions, events, rollup, notification — is the PL/pgSQL function
eventstore.commit_group (migrations/0006_commit_group.up.sql). The writer runs it on a
connection of its own with autocommit, so the statement is the transaction and a group costs
one round trip: no BEGIN, no COMMIT, no per-key claims, no pool reset between groups, and no
await between the statements for the busy event loop to delay.

Locking: the function takes `log_head` FIRST and holds it to commit, so append transactions
(of this replica or any other) run strictly one after the other — they already committed one
after the other on that row. None of them can wait for another on a stream head, an event id
or a key while holding something that one needs, so they cannot deadlock, whatever the order
of the appends in a group (they are still sorted by stream id, which keeps positions
deterministic). Every statement of the function sees what the previous group committed
(READ COMMITTED), which is what makes the checks exact.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg
from fundledger_platform.errors import (
    Aborted,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from fundledger_platform.reasons import Reason

from eventstore.adapters import sql
from eventstore.adapters.conn import Conn, PooledConn
from eventstore.domain.model import AppendCommand, AppendResult, ExpectedKind
from eventstore.metrics import VERSION_CONFLICTS
from eventstore.service_layer.ports import GroupOutcome, GroupWriteInterrupted

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "eventstore_appended"

# Failures after which the same appends may well succeed when tried again.
_TRANSIENT = (
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.UniqueViolationError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    OSError,
)


class PostgresGroupWriter:
    """The GroupWriter port (service_layer/ports.py): one dedicated connection, taken from the
    pool once and kept, and one autocommit statement per group."""

    def __init__(
        self, pool: asyncpg.Pool, *, rollup: bool, horizon: timedelta = timedelta(0)
    ) -> None:
        self._pool = pool
        # Native mode keeps eventstore.daily_counts in the append transaction; in
        # Timescale mode it is a view over a continuous aggregate (not written here).
        self._rollup = rollup
        # How far after the commit time an event's effective time may lie.
        self._horizon = horizon
        self._conn: PooledConn | None = None

    async def write(self, commands: Sequence[AppendCommand]) -> GroupOutcome:
        try:
            if self._conn is None:
                self._conn = await self._connect()
            return await write_group(
                self._conn, commands, rollup=self._rollup, horizon=self._horizon
            )
        except Exception as err:
            lost = _lost(self._conn)
            # A statement that failed on a live connection rolled back and left it usable;
            # after anything else the next group takes a fresh connection.
            if lost or not isinstance(err, asyncpg.PostgresError):
                await self._drop()
            if lost or isinstance(err, _TRANSIENT):
                raise GroupWriteInterrupted(str(err)) from err
            raise
        except BaseException:
            # Cancelled mid-call: the connection's state is unknown.
            await self._drop()
            raise

    async def _connect(self) -> PooledConn:
        conn: PooledConn = await self._pool.acquire()
        try:
            # Only COMMIT_GROUP runs here, a function scan that plans no partition: a generic
            # plan spares re-planning it on every group, which the pool's force_custom_plan
            # (right for reads over the partitions) would do. The pool's reset query (RESET
            # ALL) undoes this when the connection goes back.
            await conn.execute("SET plan_cache_mode = force_generic_plan")
        except BaseException:
            await self._pool.release(conn)
            raise
        return conn

    async def close(self) -> None:
        """Gives the connection back to the pool (which waits for it when it closes)."""
        await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await self._pool.release(conn)
        except Exception as err:  # a broken connection: the pool replaces it
            log.debug("writer connection released with an error: %r", err)


def _lost(conn: PooledConn | None) -> bool:
    if conn is None:
        return True
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:  # the pool took it back when the server closed it
        return True


_KINDS = {
    ExpectedKind.ANY: "any",
    ExpectedKind.NO_STREAM: "no_stream",
    ExpectedKind.STREAM_EXISTS: "stream_exists",
    ExpectedKind.EXACT: "exact",
}


def _kind(cmd: AppendCommand) -> str:
    if cmd.expected.kind is ExpectedKind.EXACT and cmd.expected.version == 0:
        return "no_stream"
    return _KINDS[cmd.expected.kind]


async def write_group(
    conn: Conn,
    commands: Sequence[AppendCommand],
    *,
    rollup: bool,
    horizon: timedelta = timedelta(0),
) -> GroupOutcome:
    """Applies a group's appends with one statement (eventstore.commit_group): on its own with
    autocommit, or inside the caller's open transaction; outcomes are true once it commits.

    The same idempotency key twice in one group is settled here (the later append answers
    with the earlier one's outcome); everything else, including every write and its undo,
    happens in the function, the business-time horizon included: an effective time after the
    commit time plus ``horizon`` refuses its append (the commit time exists only there).
    """
    outcome = GroupOutcome()
    keys: dict[tuple[str, str], int] = {}
    chosen: list[int] = []
    for i in sorted(range(len(commands)), key=lambda i: commands[i].stream_id):
        cmd = commands[i]
        if cmd.idempotency_key is not None:
            slot = (cmd.stream_id, cmd.idempotency_key)
            if slot in keys:
                # The same key twice in one group: the later one is a retry of
                # the earlier (or a misuse of the key).
                first = commands[keys[slot]]
                if first.tenant != cmd.tenant:
                    # Two tenants' appends to one stream: at most one of them owns it, and
                    # which one must not show through a replay or a key-reuse answer.
                    outcome.results[i] = _stream_not_found(cmd)
                elif first.request_hash == cmd.request_hash:
                    outcome.aliases[i] = keys[slot]
                else:
                    outcome.results[i] = _key_reused(cmd)
                continue
            keys[slot] = i
        chosen.append(i)
    if not chosen:
        return outcome
    group = [commands[i] for i in chosen]
    events = [(n, e) for n, c in enumerate(group, start=1) for e in c.events]
    rows = await conn.fetch(
        sql.COMMIT_GROUP,
        [c.stream_id for c in group],
        [c.category for c in group],
        [_kind(c) for c in group],
        [c.expected.version for c in group],
        [len(c.events) for c in group],
        [c.tenant for c in group],
        [c.idempotency_key for c in group],
        [c.request_hash for c in group],
        [all(e.client_event_id for e in c.events) for c in group],
        [c.latest_effective_at for c in group],
        [n for n, _ in events],
        [e.event_id for _, e in events],
        [e.event_type for _, e in events],
        [e.schema_version for _, e in events],
        [e.data for _, e in events],
        [json.dumps(dict(e.metadata), sort_keys=True) for _, e in events],
        [e.payload_hash for _, e in events],
        [e.causation_id for _, e in events],
        [e.correlation_id for _, e in events],
        [e.user_id for _, e in events],
        [e.source for _, e in events],
        [e.actor for _, e in events],
        [e.effective_at for _, e in events],
        rollup,
        NOTIFY_CHANNEL,
        horizon,
    )
    for i, row in zip(chosen, rows, strict=True):
        outcome.results[i] = _outcome(commands[i], row, horizon)
    return outcome


def _outcome(
    cmd: AppendCommand, row: asyncpg.Record, horizon: timedelta
) -> AppendResult | DomainError:
    """One append's answer from its row of commit_group."""
    code = row["r_outcome"]
    if code in ("appended", "replayed"):
        first = int(row["r_first_version"])
        return AppendResult(
            first_version=first,
            last_version=first + len(cmd.events) - 1,
            first_position=int(row["r_first_position"]),
            last_position=int(row["r_last_position"]),
            recorded_at=row["r_recorded_at"],
            event_ids=tuple(str(e.event_id) for e in cmd.events),
            replayed=code == "replayed",
        )
    if code == "key_replayed":
        return AppendResult.from_json(json.loads(row["r_result"])).as_replay()
    if code == "key_reused":
        return _key_reused(cmd)
    if code == "not_found":
        # Another tenant's stream (or, for a tenant's caller, one without a tenant): the
        # same answer as a stream that does not exist, and nothing written.
        return _stream_not_found(cmd)
    if code == "wrong_version":
        return _wrong_version(cmd, row["r_actual_version"])
    if code == "effective_at_future":
        return _effective_too_late(cmd, row["r_recorded_at"] + horizon)
    if code == "event_id_taken":
        return FailedPrecondition(
            "an event id of this append is already used by another event",
            reason=Reason.EVENT_ID_EXISTS,
            metadata={"stream_id": cmd.stream_id},
        )
    raise AssertionError(f"commit_group answered {code!r}")


def _wrong_version(cmd: AppendCommand, actual: int | None) -> Aborted:
    VERSION_CONFLICTS.inc()
    exists = actual is not None
    return Aborted(
        f"stream {cmd.stream_id} is at version {actual or 0}"
        f"{'' if exists else ' (no stream)'}, expected {cmd.expected.describe()}",
        reason=Reason.WRONG_EXPECTED_VERSION,
        metadata={
            "stream_id": cmd.stream_id,
            "expected_version": cmd.expected.describe(),
            "actual_version": str(actual or 0),
            "stream_exists": str(exists).lower(),
        },
    )


def _effective_too_late(cmd: AppendCommand, latest: datetime) -> InvalidArgument:
    """The first event whose effective time lies after ``latest`` (the commit time plus the
    horizon), named as the request named it."""
    for index, event in enumerate(cmd.events):
        if event.effective_at is not None and event.effective_at > latest:
            field = f"events[{index}].effective_at"
            return InvalidArgument(
                f"{field}: {event.effective_at.isoformat()} is after the commit time plus the"
                f" horizon ({latest.isoformat()}): an effective time may not lie in the future",
                reason=Reason.EFFECTIVE_AT_IN_FUTURE,
                field=field,
                metadata={"latest_allowed": latest.isoformat()},
            )
    raise AssertionError("commit_group refused an append with no effective time past the horizon")


def _stream_not_found(cmd: AppendCommand) -> NotFound:
    """What a caller bound to a tenant hears of a stream that is not theirs: exactly what a
    stream that does not exist answers (its existence is not disclosed)."""
    return NotFound(
        f"stream {cmd.stream_id} does not exist",
        reason=Reason.STREAM_NOT_FOUND,
        metadata={"stream_id": cmd.stream_id},
    )


def _key_reused(cmd: AppendCommand) -> FailedPrecondition:
    return FailedPrecondition(
        f"idempotency key {cmd.idempotency_key!r} was already used on stream "
        f"{cmd.stream_id} for a different request",
        reason=Reason.IDEMPOTENCY_KEY_REUSED,
        metadata={"stream_id": cmd.stream_id, "idempotency_key": cmd.idempotency_key or ""},
    )
