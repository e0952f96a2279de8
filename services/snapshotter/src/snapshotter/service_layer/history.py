"""A fund's state for a two-clock question: the nearest usable snapshot plus the log after it.

Both the snapshot triggers and time travel go through here, so a snapshot is always computed
the way a time-travel answer is: with the shared fold, from an earlier snapshot of the same
fold version (or from nothing) plus events read from the event store — never copied from the
projector. Which snapshot may be used is decided by the pure rules of domain/axes.py.

Hash chain (issue 13): every fold here checks the events it read against the chain
(fundledger_platform.chain_check), from the hash its base snapshot keeps (Snapshot.chain_hash) or
from the genesis hash when it folds from the first event; the hash after the last event goes
with the answer (Replay.chain_hash) and is stored with a snapshot taken from it. A break raises
ChainBreakError, a FundLogError, so it is refused like any log that cannot be folded: no snapshot
is written, a caller gets DATA_LOSS FUND_CHAIN_BROKEN, the catch-up passes over the fund and the
bus consumer halts it. Time travel goes through the same fold, so its answers are checked too (a
SHA-256 per event read, next to decoding its payload). The chain is checked after the fold, so a
log that also cannot be folded (an unreadable payload, a gap) is reported as that, the more
specific reason. A base without a hash (written before the snapshotter verified) starts the check
unverified, as chain_check does for any held hash that is not known.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from fundledger_kernel.fund import FOLD_VERSION, FundState, empty_state, state_from_json
from fundledger_kernel.fund.fold_input import (
    BackdatedEventError,
    LogGapError,
    LoggedEvent,
    fold_selected,
)
from fundledger_platform.chain_check import previous_hash, verify_chain

from snapshotter.domain.axes import Axes, fallback_for
from snapshotter.domain.model import Snapshot
from snapshotter.domain.replay import Replay
from snapshotter.service_layer.ports import EventLog, SnapshotStore, StateJson

log = logging.getLogger(__name__)

Found = tuple[Snapshot, StateJson] | None


@dataclass(frozen=True)
class _Base:
    state: FundState
    snapshot: Snapshot | None
    position: int
    tenant: str | None


class History:
    def __init__(self, snapshots: SnapshotStore, events: EventLog) -> None:
        self._snapshots = snapshots
        self._events = events

    async def select(self, fund_id: str, axes: Axes) -> Replay:
        """The fund as `axes` asks: the events it selects, folded in effective order.

        The newest snapshot the question holds is tried first; when a selected event after it
        sorts before it (a backdated one), an older one at or before that event's effective
        time is taken instead, and the events between the two are read and checked again
        (domain/axes.py, rule 2) — down to the first event if need be.

        FundLogError when the log cannot be folded; LogGapError too when it ends before
        axes.at_version (callers that did not check first that the version exists ask the
        event store then whether the fund is unknown or shorter: errors.unfoldable).
        """
        base = self._start(
            fund_id, await self._snapshots.newest_within(fund_id, FOLD_VERSION, axes)
        )
        events = await self._read_after(fund_id, base.state.version, axes)
        while (fallback := fallback_for(axes, base.snapshot, events)) is not None:
            older = await self._snapshots.newest_within(
                fund_id,
                FOLD_VERSION,
                axes,
                below_version=fallback.below_version,
                effective_through_at_most=fallback.effective_through_at_most,
            )
            start = self._start(fund_id, older)
            between = await self._events.read_stream(
                fund_id,
                from_version=start.state.version + 1,
                max_count=base.state.version - start.state.version,
            )
            events = [*between, *events]
            base = start
        return await self._fold(fund_id, base, events, axes)

    async def _read_after(self, fund_id: str, version: int, axes: Axes) -> list[LoggedEvent]:
        if axes.at_version is not None and axes.at_version <= version:
            return []
        return await self._events.read_stream(
            fund_id,
            from_version=version + 1,
            max_count=0 if axes.at_version is None else axes.at_version - version,
            # Inclusive: an event recorded exactly at K counts. recorded_at never decreases as
            # the version grows, so this read is a prefix of the log after the base.
            max_recorded_at=axes.known_at,
        )

    async def _fold(
        self, fund_id: str, base: _Base, events: Sequence[LoggedEvent], axes: Axes
    ) -> Replay:
        reached = events[-1].version if events else base.state.version
        if axes.at_version is not None and reached != axes.at_version:
            raise LogGapError(
                fund_id,
                reached + 1,
                f"asked for version {axes.at_version}, the log ends at {reached}",
            )
        try:
            state = _fold_selected(base.state, events, axes)
        except BackdatedEventError as err:
            # The kernel found an event the base cannot take although rule 2 passed it: the
            # two disagree, which is a bug; the answer from the first event is right anyway.
            log.error(
                "snapshot base of %s refused by the fold (%s); folding from scratch", fund_id, err
            )
            before = await self._events.read_stream(
                fund_id, from_version=1, max_count=base.state.version
            )
            base = _Base(empty_state(fund_id), None, 0, base.tenant)
            events = [*before, *events]
            state = _fold_selected(base.state, events, axes)
        chain_hash = _verified(fund_id, base, events)
        read_through: datetime | None
        if events:
            last = events[-1]
            position, read_through = last.position, last.recorded_at
        else:
            position = base.position
            read_through = base.snapshot.event_time if base.snapshot is not None else None
        return Replay(
            state,
            base.snapshot,
            sum(1 for event in events if axes.selects(event)),
            position,
            base.tenant or next((e.tenant for e in events if e.tenant), None),
            read_through,
            chain_hash,
        )

    def _start(self, fund_id: str, found: Found) -> _Base:
        if found is not None:
            snapshot, data = found
            try:
                state = state_from_json(data)
            except ValueError as err:
                # A corrupt or foreign row must not be served as the fund's state;
                # folding from the first event is slower but always right.
                log.warning(
                    "snapshot %s unreadable, folding from scratch: %s", snapshot.snapshot_id, err
                )
            else:
                if state.version == snapshot.version and state.fund_id == fund_id:
                    return _Base(state, snapshot, snapshot.position, snapshot.tenant)
                log.warning(
                    "snapshot %s does not match its row; folding from scratch", snapshot.snapshot_id
                )
        return _Base(empty_state(fund_id), None, 0, None)


def _verified(fund_id: str, base: _Base, events: Sequence[LoggedEvent]) -> bytes | None:
    """The chain's value after `events` (consecutive versions after the base), each checked
    from the base's hash; ChainBreakError (a FundLogError) at the first that does not match."""
    held = base.snapshot.chain_hash if base.snapshot is not None else None
    if not events:
        return held
    return verify_chain(fund_id, previous_hash(fund_id, events[0].version, held), events).last_hash


def _fold_selected(state: FundState, events: Sequence[LoggedEvent], axes: Axes) -> FundState:
    return fold_selected(
        state,
        events,
        effective_at=axes.effective_at,
        known_at=axes.known_at,
        at_version=axes.at_version,
    )
