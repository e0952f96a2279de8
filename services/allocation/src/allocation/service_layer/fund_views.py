"""Fund views at the current version: folded from the log, cached in memory per fund.

Allocation has no database: the event store's log is the only truth. Each request reads the
events after the cached version (one ReadStream call; none new is the common case) and folds them
over the cached view. The answer is therefore exact at the version just read, and cheap: a fund
is folded from its first event only once per process (or after eviction).

Business time: a fund's events fold in (effective_at, version) order, so an event appended with an
effective time before what the cached view already holds (a valuation backdated to the quarter
end, recorded weeks later) cannot be folded on top of it: the view already applied later-effective
events that must now come after it. The kernel refuses (BackdatedEventError) and the view is
refolded from the fund's first event, read whole once more. That costs one full read per
backdated event a process sees, and buys the one guarantee that matters: preview and commit
check proposals against exactly the state a fold from scratch gives. (Keeping earlier states to
refold from would save fold time but not the read, and backdating is rare next to the reads it
would cost memory on every fund.) A view is never stored with an effective bound: it always
holds every event up to its version.

A log that cannot be folded (a gap, an unreadable payload) is DATA_LOSS for the caller, the one
policy of every service (fundledger_platform.recorded.fund_log_data_loss); other funds are not
affected.

Tenancy: the cache is shared by callers of every tenant, and a fund of another tenant must look
like a fund with no events. Every view handed out is checked against the caller first
(`visible(view.tenant)`, fundledger_platform.auth.tenancy): NOT_FOUND FUND_NOT_FOUND otherwise,
the answer for a missing fund. (The reads of the log made while handling a person's call act
for that person, so the event store narrows them too; the check does not rely on it — a view
cached from another caller's read would otherwise be served.)

Concurrency: several requests may catch the same fund up at once; each folds onto the cached view
it started from and the cache keeps whichever result has the highest version. Views are immutable,
so a request keeps a consistent view even if the cache moves on under it. Correctness of a commit
never rests on this cache: the append carries the expected version, and the event store refuses
it if anything was appended since (FM-16).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from fundledger_kernel.fund.fold_input import (
    BackdatedEventError,
    FundLogError,
    LogGapError,
    LoggedEvent,
)
from fundledger_platform.auth.tenancy import tenant_scope, visible
from fundledger_platform.recorded import fund_log_data_loss

from allocation.domain.fund_view import FundView, advance, empty_view
from allocation.metrics import BACKDATED_REFOLDS, CACHED_FUNDS, EVENTS_FOLDED
from allocation.service_layer.errors import fund_not_found
from allocation.service_layer.ports import EventLog


class FundViews:
    def __init__(self, log: EventLog, capacity: int = 1000) -> None:
        self._log = log
        self._capacity = capacity
        # Least recently used first; bounded so memory does not grow with every fund ever asked.
        self._views: OrderedDict[str, FundView] = OrderedDict()

    async def current(self, fund_id: str) -> FundView:
        """The fund at its current version; NOT_FOUND when it has no events or the caller may
        not see it."""
        tenant_scope()  # a person without a tenant is refused before the log is read
        cached = self._views.get(fund_id)
        base = cached if cached is not None else empty_view(fund_id)
        view = await self._read_onto(base, base.version + 1, 0)
        if view.version == 0 or not visible(view.tenant):
            raise fund_not_found(fund_id)
        self._remember(view)
        return view

    def cached_at(self, fund_id: str, version: int) -> FundView | None:
        """The cached view if it is exactly at `version`, without asking the log.

        Sound because the log is immutable: the fund at version v is the same forever. Whether v
        is still the *current* version is not known here; a caller may only rely on it when
        something else proves it, as the expected-version check of an append does.
        """
        tenant_scope()
        cached = self._views.get(fund_id)
        if cached is None or cached.version != version or not visible(cached.tenant):
            return None
        return cached

    def advance_with(self, view: FundView, events: Sequence[LoggedEvent]) -> None:
        """Cache `view` moved past events we know the log holds (our own append).

        Only a shortcut: if it cannot be taken, the fund is forgotten and the next request
        reads the log. It never fails the caller, whose write has already succeeded.
        """
        try:
            moved = advance(view, events)
        except (FundLogError, BackdatedEventError):
            # Backdated: our events (effective now) sort before an event the log holds with a
            # later effective time (a server allowing future effective times). Refold on read.
            self.forget(view.fund_id)
            return
        self._remember(moved)

    async def at_version(self, fund_id: str, version: int) -> FundView:
        """The fund exactly at `version` (at most its current one), folded from the first event.

        Only for idempotent retries, which re-plan against the version the original commit was
        made at; not cached, because it is not the current version.
        """
        cached = self._views.get(fund_id)
        if cached is not None and cached.version == version and visible(cached.tenant):
            return cached
        if version <= 0:
            return empty_view(fund_id)
        view = await self._read_onto(empty_view(fund_id), 1, version)
        if not visible(view.tenant):
            raise fund_not_found(fund_id)
        if view.version != version:
            # Only called below the current version, so the log ends too early: a gap at its end.
            missing = view.version + 1
            raise fund_log_data_loss(
                LogGapError(fund_id, missing, f"version {missing} missing, read to {view.version}")
            )
        return view

    def forget(self, fund_id: str) -> None:
        self._views.pop(fund_id, None)
        CACHED_FUNDS.set(len(self._views))

    async def _read_onto(self, base: FundView, from_version: int, max_count: int) -> FundView:
        events = await self._log.read(base.fund_id, from_version, max_count)
        try:
            try:
                view = advance(base, events)
            except BackdatedEventError:
                # A new event is effective before what `base` holds: fold every event from the
                # first, in business-time order (this never raises it again), up to the same
                # last version (none: all; the log may have grown since, a newer view is fine).
                BACKDATED_REFOLDS.inc()
                last = from_version - 1 + max_count if max_count else 0
                events = await self._log.read(base.fund_id, 1, last)
                view = advance(empty_view(base.fund_id), events)
        except FundLogError as err:
            # Drop the cached base too: the next request folds from the first event again, so
            # a log that was restored or trimmed is re-read whole instead of failing forever
            # against a base that no longer matches it.
            self.forget(base.fund_id)
            raise fund_log_data_loss(err) from None
        EVENTS_FOLDED.inc(len(events))
        return view

    def _remember(self, view: FundView) -> None:
        current = self._views.get(view.fund_id)
        if current is None or view.version > current.version:
            self._views[view.fund_id] = view
        self._views.move_to_end(view.fund_id)
        while len(self._views) > self._capacity:
            self._views.popitem(last=False)
        CACHED_FUNDS.set(len(self._views))
