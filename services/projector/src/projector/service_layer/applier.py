"""The live apply path: every route into the live projection (bus batches, catch-up,
refolds) goes through `Applier.apply`, i.e. through the one exactly-once apply."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from fundledger_kernel.fund.fold_input import LoggedEvent

from projector.metrics import (
    DUPLICATES_SKIPPED,
    EVENTS_APPLIED,
    GAP_EVENTS_FETCHED,
    GAPS_FILLED,
    REFOLDS,
)
from projector.service_layer.apply import Outcome, apply_events
from projector.service_layer.ports import EventLog, FundStore
from projector.service_layer.state_cache import StateCache
from projector.service_layer.waiters import Committed, VersionWaiters

AfterCommit = Callable[[Outcome], Awaitable[None]]


class Applier:
    def __init__(
        self,
        store: FundStore,
        source: EventLog,
        waiters: VersionWaiters,
        *,
        states: StateCache | None = None,
    ) -> None:
        self._store = store
        self._source = source
        self._waiters = waiters
        # Decoded states of the live table, so applying does not re-parse stored JSON.
        self.states = StateCache() if states is None else states
        self.after_commit: AfterCommit | None = None
        """Test hook, awaited after each commit and before the caller acknowledges:
        raising here simulates a crash between the commit and the bus ack."""

    async def apply(
        self, fund_id: str, events: Sequence[LoggedEvent], *, refold: bool = False
    ) -> Outcome:
        """Apply one fund's events exactly once (see apply.py); returns what happened.

        FundLogError when the fund's log cannot be folded (nothing written)."""
        async with self._store.session() as table:
            outcome = await apply_events(
                table, self._source, fund_id, events, refold=refold, cache=self.states
            )
        # Counted and announced only after the commit: a rolled-back attempt
        # (retried later) must neither count twice nor wake a waiter for nothing.
        self._record(outcome)
        if outcome.applied or outcome.refolded:
            head = outcome.head
            committed = (
                None if head is None or outcome.state is None else Committed(head, outcome.state)
            )
            self._waiters.notify(fund_id, committed)
        if self.after_commit is not None:
            await self.after_commit(outcome)
        return outcome

    async def refold(self, fund_id: str) -> Outcome:
        """Fold a fund's whole stream again from the log (its stored state was unusable)."""
        return await self.apply(fund_id, [], refold=True)

    @staticmethod
    def _record(outcome: Outcome) -> None:
        if outcome.applied:
            EVENTS_APPLIED.inc(outcome.applied)
        if outcome.duplicates:
            DUPLICATES_SKIPPED.inc(outcome.duplicates)
        if outcome.fetched:
            GAPS_FILLED.inc()
            GAP_EVENTS_FETCHED.inc(outcome.fetched)
        if outcome.refold_cause is not None:
            REFOLDS.labels(cause=outcome.refold_cause).inc()
