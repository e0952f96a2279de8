"""The exactly-once apply: one fund's events into one projection table.

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
the cached state and written only if the row is still at the cached version,
checked and written by one statement. No row written means the cache is behind
(another replica, a rebuild): the locking transaction above runs instead.
Duplicates and gaps always take the locking route, so they are judged against
the stored version.

Business time: a fund's events fold in (effective_at, version) order, so an
event recorded late with an earlier effective time (a backdated valuation, a
capital call booked the day after it was due) belongs *before* events the stored
state already holds. The kernel's fold_logged refuses to fold it on top
(BackdatedEventError); the fund is then folded again from scratch from the log
(versions 1..last read from the event store while the row lock is held, exactly
like a gap fill) and that state is written. The result is by construction the
fold from scratch of everything known, whatever order the events arrived in, and
the exactly-once discipline is unchanged: same lock, same version check, same
single write of state + version + position. Counted as
fundledger_projector_refolds_total{cause="backdated"}.

A log that cannot be folded — a payload that does not decode, a gap the event
store cannot fill — raises the kernel's FundLogError and writes nothing; what
that means is the caller's policy (the bus halts the fund, the catch-up sets it
aside, a rebuild answers DATA_LOSS).

Hash chain (issue 13): every run of events is checked, before it is folded,
against the hash of the last event the row holds (its chain_hash column; the
genesis hash when the run starts at version 1, as every fold from scratch does):
each event's stored hash must be the link of the one before and the event as
delivered (fundledger_platform.chain_check). A break raises ChainBreakError, a
FundLogError, so it is refused like any unfoldable log; the row keeps its last
verified version. The hash after the run is written with the state, in the same
statement. Events the event store had not hashed yet are carried on and counted
(fundledger_projector_chain_unverified_events_total).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from fundledger_kernel.fund import FOLD_VERSION, FundState, StoredStateError, empty_state
from fundledger_kernel.fund.fold_input import (
    BackdatedEventError,
    LogGapError,
    LoggedEvent,
    fold_logged,
)
from fundledger_platform.chain_check import previous_hash, verify_chain

from projector.domain.model import FundHead
from projector.domain.sequencing import ApplyPlan, plan_apply
from projector.domain.stored_state import base_state
from projector.metrics import CHAIN_UNVERIFIED
from projector.service_layer.ports import EventLog, FundTable
from projector.service_layer.state_cache import StateCache

log = logging.getLogger(__name__)

RefoldCause = Literal["backdated", "stored_state"]
"""Why a fund was folded again from the log: an event sorting before the stored state
arrived (backdated), or the stored state could not be used (stored_state)."""


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
    # Set when the stream was folded again from the log, and why.
    refold_cause: RefoldCause | None = None
    # The row's updated_at as this apply wrote it (None when it wrote nothing).
    updated_at: datetime | None = None
    # The state the row holds after this apply, when known.
    state: FundState | None = None
    # The fund's tenant as the row records it after this apply (when it wrote).
    tenant: str | None = None
    # The chain hash of the row's last event after this apply (None: not known).
    chain_hash: bytes | None = None

    @property
    def refolded(self) -> bool:
        return self.refold_cause is not None

    @property
    def head(self) -> FundHead | None:
        """The row this apply wrote; None when it wrote nothing."""
        if self.updated_at is None:
            return None
        return FundHead(
            self.fund_id, self.version, self.position, FOLD_VERSION, self.updated_at, self.tenant
        )


async def apply_events(
    table: FundTable,
    source: EventLog,
    fund_id: str,
    events: Sequence[LoggedEvent],
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
    entry = None if cache is None or refold else cache.entry(fund_id)
    known = None if entry is None else entry[0]
    if entry is not None and events:
        outcome = await _apply_over_known(table, fund_id, events, *entry)
        if outcome is not None:
            if cache is not None and outcome.state is not None:
                cache.put(outcome.state, outcome.chain_hash)
            return outcome
    outcome = await _apply_locked(table, source, fund_id, events, refold, known)
    if cache is not None and outcome.state is not None:
        # After the commit: a rolled-back state is never cached.
        cache.put(outcome.state, outcome.chain_hash)
    return outcome


def _verified(fund_id: str, held: bytes | None, run: Sequence[LoggedEvent]) -> bytes | None:
    """The run checked against the hash chain from `held` (the hash of the version before
    it); the hash after it. ChainBreakError (a FundLogError) at a break."""
    checked = verify_chain(fund_id, previous_hash(fund_id, run[0].version, held), run)
    if checked.unverified:
        CHAIN_UNVERIFIED.inc(checked.unverified)
    return checked.last_hash


async def _apply_over_known(
    table: FundTable,
    fund_id: str,
    events: Sequence[LoggedEvent],
    known: FundState,
    known_hash: bytes | None,
) -> Outcome | None:
    """The events folded over the cached state, written only if the row is still at its version.

    None (nothing written) when the events are not exactly the next ones after
    the cached version, or the row has moved on or was written by another fold:
    the locking path then decides against the stored row.
    """
    plan = plan_apply(known.version, [e.version for e in events])
    if plan.empty or plan.fetch:
        return None
    run = _given_run(events, plan)
    chain_hash = _verified(fund_id, known_hash, run)
    try:
        state = fold_logged(known, run)
    except BackdatedEventError:
        return None  # folded again from the log, under the row lock
    written = await table.write_at(
        state,
        run[-1].position,
        version=known.version,
        tenant=tenant_of(run),
        chain_hash=chain_hash,
    )
    if written is None:  # no row at the cached version
        return None
    return Outcome(
        fund_id,
        applied=plan.last - known.version,
        duplicates=plan.duplicates,
        fetched=0,
        version=state.version,
        position=run[-1].position,
        updated_at=written.updated_at,
        state=state,
        tenant=written.tenant,
        chain_hash=chain_hash,
    )


async def _apply_locked(
    table: FundTable,
    source: EventLog,
    fund_id: str,
    events: Sequence[LoggedEvent],
    refold: bool,
    known: FundState | None,
) -> Outcome:
    """The locking transaction (see the module docstring)."""
    known_version = -1 if refold or known is None else known.version
    create = not refold and bool(events)
    async with table.lock(fund_id, create=create, known_version=known_version) as locked:
        if locked is None:
            return Outcome(fund_id, 0, 0, 0, 0, 0)
        row = locked.row
        base: FundState | None = None
        if not refold:
            try:
                base = base_state(fund_id, row.version, row.fold_version, row.state_text, known)
            except StoredStateError as err:
                log.warning("%s: stored state unusable (%s); folding it again", fund_id, err)
        refolding = base is None
        plan = plan_apply(row.version, [e.version for e in events], refold=refolding)
        if plan.empty:
            held = base if row.version > 0 else None
            return Outcome(
                fund_id,
                0,
                plan.duplicates,
                0,
                row.version,
                row.position,
                state=held,
                chain_hash=row.chain_hash,
            )
        run = await _read_run(source, fund_id, plan) if plan.fetch else _given_run(events, plan)
        cause: RefoldCause | None = "stored_state" if refolding else None
        chain_hash = _verified(fund_id, row.chain_hash, run)
        try:
            state = fold_logged(empty_state(fund_id) if base is None else base, run)
        except BackdatedEventError as err:
            # An event of this run sorts before what the stored state holds (see the module
            # docstring): fold the whole stream again. From scratch never raises this.
            log.info("%s: %s; folding the fund again from the log", fund_id, err)
            run = await _read_run(source, fund_id, ApplyPlan(0, 1, plan.last, fetch=True))
            chain_hash = _verified(fund_id, None, run)
            state = fold_logged(empty_state(fund_id), run)
            cause = "backdated"
        given = {e.version for e in events}
        fetched = sum(1 for e in run if e.version > row.version and e.version not in given)
        written = await locked.write(state, run[-1].position, tenant_of(run), chain_hash=chain_hash)
    return Outcome(
        fund_id,
        applied=plan.last - row.version,
        duplicates=plan.duplicates,
        fetched=fetched,
        version=state.version,
        position=run[-1].position,
        refold_cause=cause,
        updated_at=written.updated_at,
        state=state,
        tenant=written.tenant,
        chain_hash=chain_hash,
    )


async def _read_run(source: EventLog, fund_id: str, plan: ApplyPlan) -> list[LoggedEvent]:
    """Versions plan.first..plan.last from the log; LogGapError when it does not hold them
    all (they were delivered, so they were written: only retention or a repair of the log
    removes them, and no retry brings them back)."""
    run = await source.read_stream(
        fund_id, from_version=plan.first, max_count=plan.last - plan.first + 1
    )
    wanted = range(plan.first, plan.last + 1)
    got = [e.version for e in run]
    if got != list(wanted):
        missing = next(
            (v for i, v in enumerate(wanted) if i >= len(got) or got[i] != v), plan.last + 1
        )
        raise LogGapError(
            fund_id,
            missing,
            f"the event store returned versions {got[:5]}… for {plan.first}..{plan.last}",
        )
    return run


def tenant_of(events: Sequence[LoggedEvent]) -> str | None:
    """The fund's tenant as the event store recorded it on these events (None: none). A
    stream's events all carry its tenant; events written before the store recorded tenants
    carry none, so any one that names a tenant tells."""
    return next((e.tenant for e in events if e.tenant), None)


def _given_run(events: Sequence[LoggedEvent], plan: ApplyPlan) -> list[LoggedEvent]:
    by_version = {e.version: e for e in events if plan.first <= e.version <= plan.last}
    return [by_version[v] for v in range(plan.first, plan.last + 1)]
