"""GetFundState's use case: the fund's row, waiting (bounded) for a minimum version.

Read-your-writes: a caller that just appended version v asks for min_version v
and gets a state that includes its write, or a clear DEADLINE_EXCEEDED naming
the version the projection did reach — never an older state without notice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from fundledger_platform.errors import DeadlineExceeded, NotFound

from projector.adapters.fund_heads import FundHead
from projector.adapters.waiters import VersionWaiters


async def fund_row_at_least(
    read: Callable[[str], Awaitable[FundHead | None]],
    waiters: VersionWaiters,
    fund_id: str,
    min_version: int,
    *,
    budget_seconds: float,
    poll_seconds: float,
) -> FundHead:
    """The fund's row once its version is >= min_version.

    Waits at most `budget_seconds` (the caller passes what is left of the call's
    deadline, minus a margin, so this answers before the caller gives up), woken
    by this process's commits and polling the database meanwhile for commits of
    other replicas. NotFound for a fund with no row once the wait is over;
    DeadlineExceeded (with the current version) for one that stayed below.
    """
    if min_version <= 0:  # nothing to wait for
        found = await read(fund_id)
        if found is not None:
            return found
        raise fund_not_found(fund_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (budget_seconds if min_version > 0 else 0.0)
    while True:
        # Registered before the read, so a commit landing between the read and
        # the wait still wakes us (see VersionWaiters.watch).
        with waiters.watch(fund_id) as changed:
            row = await read(fund_id)
            if row is not None and row.version >= min_version:
                return row
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(poll_seconds, remaining))
            # Woken by this process's own commit of the version asked for: that
            # row is the answer (it was committed while this call waited), no
            # need to read it back.
            woken_by = changed.head
            if woken_by is not None and woken_by.version >= min_version:
                return woken_by
    if row is None:
        raise fund_not_found(fund_id)
    raise DeadlineExceeded(
        f"fund {fund_id} is projected at version {row.version}, below {min_version}",
        reason="MIN_VERSION_NOT_REACHED",
        metadata={
            "fund_id": fund_id,
            "current_version": str(row.version),
            "min_version": str(min_version),
        },
    )


def fund_not_found(fund_id: str) -> NotFound:
    return NotFound(
        f"fund {fund_id} has no projected state",
        reason="FUND_NOT_FOUND",
        metadata={"fund_id": fund_id},
    )
