"""The exactly-once apply transaction: one fund's events into one projection table.

Delivery is at least once (the bus redelivers anything not acknowledged, the
catch-up re-reads the log, a rebuild replays it), so the *effect* is made
exactly once here, by one transaction that
1. locks the fund's row (inserting an empty version-0 row first when the fund
   is new — "insert or lock"), so no other apply of this fund, in this process
   or another replica, runs between our version check and our write;
2. compares the events' versions with the stored version (domain/sequencing):
   duplicates are skipped, a gap is filled from the event store while the lock
   is still held, so nobody can apply the missing versions behind our back;
3. writes state, version and position together and commits.
The caller acknowledges the bus message only after this returned (BusConsumer
acks after the handler), so a crash between commit and ack means a redelivery
that step 2 turns into a no-op — the stored version *is* the checkpoint, in the
same transaction as the state it describes (FM-12, docs/failure-modes.md).

With a StateCache (the live table), a fund whose state this process committed
last takes a shorter route to the same guarantee: its events are folded over
the cached state and written by one statement, `UPDATE … WHERE version =
<cached version>`, which checks and writes atomically (PostgreSQL re-checks
the condition on the row it updates, after waiting for any other writer). No
row updated means the cache is behind (another replica, a rebuild): the
locking transaction above runs instead. Duplicates and gaps always take the
locking route, so they are judged against the stored version.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_kernel.fund import (
    FOLD_VERSION,
    FundState,
    StoredStateError,
    empty_state,
    state_from_json,
    state_to_json,
)

from projector.adapters.conn import Conn
from projector.adapters.event_source import EventSource
from projector.adapters.state_cache import StateCache
from projector.domain.fund_events import fold
from projector.domain.sequencing import ApplyPlan, plan_apply

log = logging.getLogger(__name__)


class GapNotFillableError(RuntimeError):
    """The event store did not return the missing versions; retried on the next delivery."""


@dataclass(frozen=True)
class Outcome:
    fund_id: str
    # Versions the projection moved forward by.
    applied: int
    # Given events at or below the stored version, skipped.
    duplicates: int
    # Events read from the event store because they were missing from the delivery.
    fetched: int
    version: int
    position: int
    # True when the stored state could not be used and the stream was folded again.
    refolded: bool = False
    # The row's updated_at as this apply wrote it (None when it wrote nothing).
    updated_at: datetime | None = None


async def _lock_row(
    conn: Conn, table: str, fund_id: str, create: bool, cached_version: int
) -> asyncpg.Record | None:
    # FOR UPDATE waits for any other transaction holding this fund's row, then
    # reads the committed version: the check below always sees the latest write.
    # The state is sent only when the cached one is not at the stored version.
    select = (
        "SELECT version, position, fold_version, "
        "CASE WHEN version = $2 AND fold_version = $3 THEN NULL ELSE state END AS state "
        f"FROM {table} WHERE fund_id = $1 FOR UPDATE"
    )
    row: asyncpg.Record | None = await conn.fetchrow(select, fund_id, cached_version, FOLD_VERSION)
    if row is not None or not create:
        return row
    # A new fund: two appliers may both find no row. ON CONFLICT DO NOTHING makes
    # the second wait for the first's commit and insert nothing; the SELECT …
    # FOR UPDATE after it then queues behind the first's lock like any update.
    # The placeholder is never visible at version 0: the same transaction either
    # writes version >= 1 over it or rolls back.
    await conn.execute(
        f"INSERT INTO {table} (fund_id, name, state, version, position, fold_version) "
        "VALUES ($1, '', $2::jsonb, 0, 0, $3) ON CONFLICT (fund_id) DO NOTHING",
        fund_id,
        json.dumps(state_to_json(empty_state(fund_id))),
        FOLD_VERSION,
    )
    row = await conn.fetchrow(select, fund_id, cached_version, FOLD_VERSION)
    if row is None:  # impossible: the row exists and nothing deletes rows
        raise RuntimeError(f"{fund_id}: projection row vanished")
    return row


def _stored_state(fund_id: str, row: asyncpg.Record, cached: FundState | None) -> FundState | None:
    """The row's state; None when this fold cannot use it (another fold version, corrupt)."""
    if row["fold_version"] != FOLD_VERSION:
        return None
    if row["state"] is None and cached is not None and cached.version == row["version"]:
        return cached  # the row is at the cached version (see _lock_row)
    if row["version"] == 0:  # the placeholder of a new fund
        return empty_state(fund_id)
    try:
        return state_from_json(json.loads(row["state"]))
    except (StoredStateError, ValueError, TypeError) as err:
        log.warning("%s: stored state unreadable (%s); folding the stream again", fund_id, err)
        return None


async def _read_run(source: EventSource, fund_id: str, plan: ApplyPlan) -> list[RecordedEvent]:
    run = await source.read_stream(
        fund_id, from_version=plan.first, max_count=plan.last - plan.first + 1
    )
    if [e.version for e in run] != list(range(plan.first, plan.last + 1)):
        raise GapNotFillableError(
            f"{fund_id}: the event store returned versions "
            f"{[e.version for e in run][:5]}… for {plan.first}..{plan.last}"
        )
    return run


def _given_run(events: Sequence[RecordedEvent], plan: ApplyPlan) -> list[RecordedEvent]:
    by_version = {e.version: e for e in events if plan.first <= e.version <= plan.last}
    return [by_version[v] for v in range(plan.first, plan.last + 1)]


_UPDATE = (
    "UPDATE {table} SET name = $2, state = $3::jsonb, version = $4, position = $5, "
    "fold_version = $6, updated_at = clock_timestamp() WHERE fund_id = $1"
)
_RETURNING = " RETURNING updated_at"


async def apply_on(
    conn: Conn,
    table: str,
    source: EventSource,
    fund_id: str,
    events: Sequence[RecordedEvent],
    *,
    refold: bool = False,
    cache: StateCache | None = None,
) -> Outcome:
    """Apply `events` (all of stream `fund_id`, any order, duplicates allowed) to `table`.

    `refold` folds the whole stream again from the log (e.g. after a fold
    version change); it never creates a row for a fund the table does not hold.
    `cache` holds the states this process committed to `table` (the live one):
    read first, updated after the commit.
    """
    known = None if cache is None or refold else cache.get(fund_id)
    if known is not None and events:
        outcome = await _apply_over_known(conn, table, fund_id, events, known)
        if outcome is not None:
            if cache is not None:
                cache.put(outcome.state)
            return outcome.result
    result, state = await _apply_locked(conn, table, source, fund_id, events, refold, known)
    if cache is not None and state is not None:
        cache.put(state)  # after the commit: a rolled-back state is never cached
    return result


@dataclass(frozen=True)
class _Written:
    result: Outcome
    state: FundState


async def _apply_over_known(
    conn: Conn,
    table: str,
    fund_id: str,
    events: Sequence[RecordedEvent],
    known: FundState,
) -> _Written | None:
    """The events folded over the cached state, written only if the row is still at its version.

    None (nothing written) when the events are not exactly the next ones after
    the cached version, or the row has moved on or was written by another fold:
    the locking path then decides against the stored row.
    """
    plan = plan_apply(known.version, [e.version for e in events])
    if plan.empty or plan.fetch:
        return None
    run = _given_run(events, plan)
    state = fold(known, run)
    updated_at = await _write_state(
        conn, table, fund_id, state, run[-1].position, only_at_version=known.version
    )
    if updated_at is None:  # no row at the cached version
        return None
    result = Outcome(
        fund_id,
        applied=plan.last - known.version,
        duplicates=plan.duplicates,
        fetched=0,
        version=state.version,
        position=run[-1].position,
        updated_at=updated_at,
    )
    return _Written(result, state)


async def _apply_locked(
    conn: Conn,
    table: str,
    source: EventSource,
    fund_id: str,
    events: Sequence[RecordedEvent],
    refold: bool,
    known: FundState | None,
) -> tuple[Outcome, FundState | None]:
    """The locking transaction (see the module docstring); returns the outcome and the
    state the row holds after it (None when unknown)."""
    cached_version = -1 if known is None else known.version
    async with conn.transaction():
        row = await _lock_row(
            conn, table, fund_id, not refold and bool(events), -1 if refold else cached_version
        )
        if row is None:
            return Outcome(fund_id, 0, 0, 0, 0, 0), None
        stored_version: int = row["version"]
        stored = _stored_state(fund_id, row, known)
        refold = refold or stored is None
        plan = plan_apply(stored_version, [e.version for e in events], refold=refold)
        if plan.empty:
            result = Outcome(fund_id, 0, plan.duplicates, 0, stored_version, row["position"])
            return result, (stored if stored_version > 0 else None)
        if plan.fetch:
            run = await _read_run(source, fund_id, plan)
            given = {e.version for e in events}
            fetched = sum(1 for e in run if e.version > stored_version and e.version not in given)
        else:
            run, fetched = _given_run(events, plan), 0
        base = empty_state(fund_id) if refold or stored is None else stored
        state = fold(base, run)
        updated_at = await _write_state(conn, table, fund_id, state, run[-1].position)
    result = Outcome(
        fund_id,
        applied=plan.last - stored_version,
        duplicates=plan.duplicates,
        fetched=fetched,
        version=state.version,
        position=run[-1].position,
        refolded=refold,
        updated_at=updated_at,
    )
    return result, state


async def _write_state(
    conn: Conn,
    table: str,
    fund_id: str,
    state: FundState,
    position: int,
    only_at_version: int | None = None,
) -> datetime | None:
    """Store `state` in the fund's row; its update time, or None when `only_at_version` is
    given and the row is not at that version (and this fold version)."""
    query = _UPDATE.format(table=table)
    args: tuple[int, ...] = ()
    if only_at_version is not None:
        query += " AND version = $7 AND fold_version = $6"
        args = (only_at_version,)
    query += _RETURNING
    updated_at: datetime | None = await conn.fetchval(
        query,
        fund_id,
        state.name,
        json.dumps(state_to_json(state)),
        state.version,
        position,
        FOLD_VERSION,
        *args,
    )
    return updated_at
