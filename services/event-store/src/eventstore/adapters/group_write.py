"""One group-commit transaction: the appends of a group, applied together.

Why one transaction for many appends: positions must become visible in the order
they are assigned (FM-1, docs/failure-modes.md), so every append transaction takes the single
`log_head` row lock until it commits. Commits are therefore serial, and the only
way to go fast is to make each commit carry many appends (the queue that forms
groups is the append use case, service_layer/append.py, which calls this adapter
through its GroupWriter port). Each append still succeeds or fails on its own: a
version conflict in one does not touch the others, because every per-append
step either succeeds or is undone before the next (eventstore.advance_heads).

Order inside a group: appends are processed stably sorted by stream id, so two
groups (from two replicas) lock stream heads in the same order and cannot
deadlock on them; `log_head` is always locked last.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from fundledger_platform.errors import Aborted, DomainError, FailedPrecondition, NotFound
from fundledger_platform.reasons import Reason

from eventstore.adapters import sql
from eventstore.adapters.conn import Conn
from eventstore.domain.model import AppendCommand, AppendResult, ExpectedKind
from eventstore.metrics import VERSION_CONFLICTS
from eventstore.service_layer.ports import GroupOutcome, GroupWriteInterrupted

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
    """The GroupWriter port (service_layer/ports.py): one pooled connection and one
    transaction per group."""

    def __init__(self, pool: asyncpg.Pool, *, rollup: bool) -> None:
        self._pool = pool
        # Native mode keeps eventstore.daily_counts in the append transaction; in
        # Timescale mode it is a view over a continuous aggregate (not written here).
        self._rollup = rollup

    async def write(self, commands: Sequence[AppendCommand]) -> GroupOutcome:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                return await write_group(conn, commands, rollup=self._rollup)
        except _TRANSIENT as err:
            raise GroupWriteInterrupted(str(err)) from err


@dataclass(frozen=True)
class _Planned:
    command: AppendCommand
    first_version: int
    tenant: str | None  # the stream's: every event carries it


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
    conn: Conn, commands: Sequence[AppendCommand], *, rollup: bool
) -> GroupOutcome:
    """Applies appends inside the caller's open transaction; outcomes are only
    true once that transaction commits.

    Idempotency keys are claimed first (a key already committed answers with a
    replay), then every remaining append moves its stream head and claims its
    event ids in ONE call to eventstore.advance_heads (migration 0003), so a
    group costs a handful of round trips whatever its size.

    The head row is the optimistic lock: the function only moves it when the
    expectation holds, and the row stays locked until commit, so a concurrent
    writer with the same expectation waits and then fails to match (FM-4,
    FM-8).
    """
    outcome = GroupOutcome()
    keys: dict[tuple[str, str], int] = {}
    key_claimed: set[int] = set()
    candidates: list[int] = []
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
            earlier = await _claim_key(conn, cmd)
            if earlier is not None:
                outcome.results[i] = earlier
                continue
            key_claimed.add(i)
        candidates.append(i)
    if not candidates:
        return outcome
    chosen = [commands[i] for i in candidates]
    # The version check and event-id claims of every append, in one round trip: the
    # PL/pgSQL function eventstore.advance_heads (migrations/0003_advance_heads.up.sql).
    rows = await conn.fetch(
        sql.ADVANCE_HEADS,
        [c.stream_id for c in chosen],
        [c.category for c in chosen],
        [_kind(c) for c in chosen],
        [c.expected.version for c in chosen],
        [len(c.events) for c in chosen],
        [e.event_id for c in chosen for e in c.events],
        [c.tenant for c in chosen],
        [c.tenant for c in chosen],
    )
    planned: list[tuple[int, _Planned]] = []
    for i, row in zip(candidates, rows, strict=True):
        cmd = commands[i]
        n = len(cmd.events)
        if row["foreign_stream"]:
            # Another tenant's stream (or, for a tenant's caller, one without a tenant): the
            # same answer as a stream that does not exist, and nothing written.
            if i in key_claimed:
                await conn.execute(sql.RELEASE_IDEMPOTENCY_KEY, cmd.stream_id, cmd.idempotency_key)
            outcome.results[i] = _stream_not_found(cmd)
        elif row["new_version"] is None:
            outcome.results[i] = await _wrong_version(
                conn, cmd, row["actual_version"], i in key_claimed
            )
        elif row["claimed"] < n:
            outcome.results[i] = await _event_ids_taken(conn, cmd, i in key_claimed)
        else:
            first_version = int(row["new_version"]) - n + 1
            planned.append((i, _Planned(cmd, first_version, row["stream_tenant"])))
    if planned:
        for i, written in await _write_events(conn, planned, rollup=rollup):
            outcome.results[i] = written
    return outcome


async def _claim_key(conn: Conn, cmd: AppendCommand) -> AppendResult | DomainError | None:
    """Claims the append's idempotency key; None when claimed, else the outcome
    of the earlier request that holds it (a replay, or a key reused)."""
    claimed = await conn.fetchval(
        sql.CLAIM_IDEMPOTENCY_KEY, cmd.stream_id, cmd.idempotency_key, cmd.request_hash
    )
    if claimed is not None:
        return None
    # Committed by an earlier request (a concurrent one in another transaction
    # made our INSERT wait for its commit first).
    if cmd.tenant is not None:
        # The key's append committed, so its stream did too: a stream of another tenant is
        # NOT_FOUND here as everywhere, never a replay of someone else's result.
        owner = await conn.fetchval(sql.STREAM_TENANT, cmd.stream_id)
        if owner != cmd.tenant:
            return _stream_not_found(cmd)
    row = await conn.fetchrow(sql.GET_IDEMPOTENCY_KEY, cmd.stream_id, cmd.idempotency_key)
    assert row is not None
    if bytes(row["request_hash"]) != cmd.request_hash:
        return _key_reused(cmd)
    return AppendResult.from_json(json.loads(row["result"])).as_replay()


async def _wrong_version(
    conn: Conn, cmd: AppendCommand, actual: int | None, key_claimed: bool
) -> AppendResult | DomainError:
    replay = await _replay_by_event_ids(conn, cmd)
    if key_claimed:
        await conn.execute(sql.RELEASE_IDEMPOTENCY_KEY, cmd.stream_id, cmd.idempotency_key)
    if replay is not None:
        return replay
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


async def _event_ids_taken(
    conn: Conn, cmd: AppendCommand, key_claimed: bool
) -> AppendResult | DomainError:
    """Some event ids already exist (advance_heads undid this append's writes):
    a retry of an append already in the stream, or a conflict."""
    if key_claimed:
        await conn.execute(sql.RELEASE_IDEMPOTENCY_KEY, cmd.stream_id, cmd.idempotency_key)
    replay = await _replay_by_event_ids(conn, cmd)
    if replay is not None:
        return replay
    return FailedPrecondition(
        "an event id of this append is already used by another event",
        reason=Reason.EVENT_ID_EXISTS,
        metadata={"stream_id": cmd.stream_id},
    )


async def _replay_by_event_ids(conn: Conn, cmd: AppendCommand) -> AppendResult | None:
    """The original result when every event id of `cmd` is already in its stream,
    in order and consecutive (and where the expected version says they should be)."""
    if not all(e.client_event_id for e in cmd.events):
        return None
    rows = await conn.fetch(sql.FIND_EVENT_IDS, [e.event_id for e in cmd.events])
    found = {r["event_id"]: r for r in rows}
    if len(found) != len(cmd.events):
        return None
    versions = []
    for e in cmd.events:
        row = found[e.event_id]
        if row["stream_id"] != cmd.stream_id:
            return None
        versions.append(int(row["version"]))
    first = versions[0]
    if versions != list(range(first, first + len(versions))):
        return None
    kind = cmd.expected.kind
    if (kind is ExpectedKind.EXACT and first != cmd.expected.version + 1) or (
        kind is ExpectedKind.NO_STREAM and first != 1
    ):
        return None
    span = await conn.fetchrow(sql.EVENT_SPAN, cmd.stream_id, first, versions[-1])
    if span is None or span["first_position"] is None:
        return None
    return AppendResult(
        first_version=first,
        last_version=versions[-1],
        first_position=span["first_position"],
        last_position=span["last_position"],
        recorded_at=span["recorded_at"],
        event_ids=tuple(str(e.event_id) for e in cmd.events),
        replayed=True,
    )


async def _write_events(
    conn: Conn, planned: Sequence[tuple[int, _Planned]], *, rollup: bool
) -> list[tuple[int, AppendResult]]:
    total = sum(len(p.command.events) for _, p in planned)
    # Taking the log_head row lock here (last) is what orders commits; the
    # clock is read after the lock is held, and clamped to the previous
    # commit's time, so recorded_at never decreases with position (FM-9).
    head = await conn.fetchrow(sql.TAKE_POSITIONS, total)
    assert head is not None
    recorded_at: datetime = head["last_recorded_at"]
    position = int(head["last_position"]) - total + 1
    records = []
    results: list[tuple[int, AppendResult]] = []
    keyed: list[tuple[str, str, str]] = []
    streams: list[str] = []
    counts: Counter[tuple[str, str, str]] = Counter()
    for i, plan in planned:
        cmd = plan.command
        first_position = position
        for offset, e in enumerate(cmd.events):
            records.append(
                (
                    position,
                    cmd.stream_id,
                    cmd.category,
                    plan.first_version + offset,
                    e.event_id,
                    e.event_type,
                    e.schema_version,
                    e.data,
                    json.dumps(dict(e.metadata), sort_keys=True),
                    e.payload_hash,
                    cmd.idempotency_key,
                    e.causation_id,
                    e.correlation_id,
                    e.user_id,
                    e.source,
                    plan.tenant,
                    e.actor,
                    recorded_at,
                )
            )
            counts[(plan.tenant or "", e.user_id or "", e.event_type)] += 1
            position += 1
        result = AppendResult(
            first_version=plan.first_version,
            last_version=plan.first_version + len(cmd.events) - 1,
            first_position=first_position,
            last_position=position - 1,
            recorded_at=recorded_at,
            event_ids=tuple(str(e.event_id) for e in cmd.events),
        )
        results.append((i, result))
        streams.append(cmd.stream_id)
        if cmd.idempotency_key is not None:
            keyed.append((cmd.stream_id, cmd.idempotency_key, json.dumps(result.to_json())))
    columns = list(zip(*records, strict=True))
    await conn.execute(sql.INSERT_EVENTS, *(list(col) for col in columns[:17]), recorded_at)
    await conn.execute(sql.STAMP_HEADS, sorted(set(streams)), recorded_at)
    if keyed:
        await conn.execute(
            sql.STORE_IDEMPOTENCY_RESULTS,
            [k[0] for k in keyed],
            [k[1] for k in keyed],
            [k[2] for k in keyed],
        )
    if rollup:
        ordered = sorted(counts.items())
        await conn.execute(
            sql.BUMP_DAILY_COUNTS,
            recorded_at,
            [k[0] for k, _ in ordered],
            [k[1] for k, _ in ordered],
            [k[2] for k, _ in ordered],
            [c for _, c in ordered],
        )
    await conn.execute(sql.NOTIFY, NOTIFY_CHANNEL, str(position - 1))
    return results


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
