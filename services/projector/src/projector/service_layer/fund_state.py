"""GetFundState's use case: a fund's state, waiting (bounded) for a minimum version.

Read-your-writes: a caller that just appended version v asks for min_version v
and gets a state that includes its write, or a clear DEADLINE_EXCEEDED naming
the version the projection did reach — never an older state without notice.

A hot path, so each call costs one row read (shared with the calls that arrive
meanwhile, see adapters/fund_heads.py) and, when the answer for that row is in
the one cache (read_cache.py), nothing else: the row comes without its state
then. Otherwise the same read brings the state, which is parsed and built once
for every later call at that row. A call woken by this process's own commit is
answered from the state that commit wrote, without reading the row back.

The read path never writes. A row it cannot use (written by another fold
version, or damaged) is answered with the fund's log folded in memory, up to
the row's version, and not stored: the apply path repairs the row (the fund's
next event, the start-up refold, a rebuild). A log that cannot be folded is
DATA_LOSS (fund_log_data_loss).

Tenancy: a fund of another tenant (or of none, for a tenant-bound caller) is answered exactly
like a fund with no row — NOT_FOUND FUND_NOT_FOUND, after the same wait — so its existence is
not disclosed. The check is on the row read for this call (the batched read is shared by
callers of every tenant), never on a cached answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Generic, TypeAlias, TypeVar

from fundledger_kernel.fund import FundState, StoredStateError, empty_state
from fundledger_kernel.fund.fold_input import FundLogError, LogGapError, fold_logged
from fundledger_platform.auth.tenancy import tenant_scope, visible
from fundledger_platform.errors import DeadlineExceeded, NotFound
from fundledger_platform.reasons import Reason
from fundledger_platform.recorded import fund_log_data_loss

from projector.domain.model import FundHead, FundRead, RowKey
from projector.domain.stored_state import row_state
from projector.service_layer.ports import EventLog, FundHeads
from projector.service_layer.read_cache import ReadCache
from projector.service_layer.waiters import Committed, VersionWaiters

log = logging.getLogger(__name__)

R = TypeVar("R")

# A row read and the cache entry it was read against.
_Found: TypeAlias = tuple[FundRead, tuple[RowKey, R] | None]


class FundStateReader(Generic[R]):
    """Answers GetFundState; `build` turns a row's head and state into the answer
    (the wire response), which is cached as it is."""

    def __init__(
        self,
        heads: FundHeads,
        waiters: VersionWaiters,
        source: EventLog,
        build: Callable[[FundHead, FundState], R],
        *,
        poll_seconds: float,
        cache_capacity: int = 2048,
    ) -> None:
        self._heads = heads
        self._waiters = waiters
        self._source = source
        self._build = build
        self._poll = poll_seconds
        self._cache: ReadCache[R] = ReadCache(cache_capacity)

    async def get(self, fund_id: str, min_version: int, *, budget_seconds: float) -> R:
        """The fund's answer once its version is >= min_version.

        Waits at most `budget_seconds` (the caller passes what is left of the call's
        deadline, minus a margin, so this answers before the caller gives up), woken
        by this process's commits and polling the database meanwhile for commits of
        other replicas. NotFound for a fund with no row once the wait is over;
        DeadlineExceeded (with the current version) for one that stayed below.
        """
        tenant_scope()  # a person without a tenant is refused before anything is read
        found: _Found[R] | Committed
        if min_version <= 0:  # nothing to wait for (the hot path: no extra call)
            read_now = await self._read(fund_id)
            if read_now is None:
                raise fund_not_found(fund_id)
            found = read_now
        else:
            found = await self._at_least(fund_id, min_version, budget_seconds)
        if isinstance(found, Committed):
            head, state = found.head, found.state
            hit = self._cache.get(fund_id, head.key)
            if hit is not None:
                return hit
        else:
            read, entry = found
            head = read.head
            if entry is not None and entry[0] == head.key:
                self._cache.touch(fund_id)
                return entry[1]
            if read.state_text is None:  # the entry it was read against was replaced
                again = await self._heads.read(fund_id, None)
                # Rows are never deleted (only a concurrent down-migration) and a fund's
                # tenant never changes: checked again all the same.
                if again is None or not visible(again.head.tenant):
                    raise fund_not_found(fund_id)
                read, head = again, again.head
            state = await self._state_of(read)
        built = self._build(head, state)
        self._cache.put(fund_id, head.key, built)
        return built

    async def _at_least(
        self, fund_id: str, min_version: int, budget_seconds: float
    ) -> _Found[R] | Committed:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget_seconds
        while True:
            # Registered before the read, so a commit landing between the read and
            # the wait still wakes us (see VersionWaiters.watch).
            with self._waiters.watch(fund_id) as changed:
                found = await self._read(fund_id)
                if found is not None and found[0].head.version >= min_version:
                    return found
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), min(self._poll, remaining))
                # Woken by this process's own commit of the version asked for: that
                # commit is the answer (it was made while this call waited), no need
                # to read it back.
                committed = changed.committed
                if (
                    committed is not None
                    and committed.head.version >= min_version
                    and visible(committed.head.tenant)
                ):
                    return committed
        if found is None:
            raise fund_not_found(fund_id)
        version = found[0].head.version
        raise DeadlineExceeded(
            f"fund {fund_id} is projected at version {version}, below {min_version}",
            reason=Reason.MIN_VERSION_NOT_REACHED,
            metadata={
                "fund_id": fund_id,
                "current_version": str(version),
                "min_version": str(min_version),
            },
        )

    async def _read(self, fund_id: str) -> _Found[R] | None:
        """The fund's row and the cache entry it was read against; None when there is no row
        or the caller may not see it (the same to them)."""
        entry = self._cache.entry(fund_id)
        read = await self._heads.read(fund_id, None if entry is None else entry[0])
        if read is None or not visible(read.head.tenant):
            return None
        return read, entry

    async def _state_of(self, read: FundRead) -> FundState:
        head = read.head
        try:
            if read.state_text is None:
                raise StoredStateError("the row was read without its state")
            return row_state(head.fund_id, head.version, head.fold_version, read.state_text)
        except StoredStateError as err:
            log.warning(
                "%s: stored state unusable (%s); answering from the log, folded in memory",
                head.fund_id,
                err,
            )
        return await self._fold_from_log(head)

    async def _fold_from_log(self, head: FundHead) -> FundState:
        """The state at the row's version, folded from the log; nothing is stored."""
        events = await self._source.read_stream(
            head.fund_id, from_version=1, max_count=head.version
        )
        try:
            state = fold_logged(empty_state(head.fund_id), events)
            if state.version != head.version:
                raise LogGapError(
                    head.fund_id,
                    state.version + 1,
                    f"the event store returned versions up to {state.version}, "
                    f"the projection is at {head.version}",
                )
        except FundLogError as err:
            raise fund_log_data_loss(err) from None
        return state


def fund_not_found(fund_id: str) -> NotFound:
    return NotFound(
        f"fund {fund_id} has no projected state",
        reason=Reason.FUND_NOT_FOUND,
        metadata={"fund_id": fund_id},
    )
