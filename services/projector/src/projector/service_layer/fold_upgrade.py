"""Rows another fold version wrote, rebuilt at start-up in the background while serving.

A FOLD_VERSION bump (a handler, a stored field or its meaning changed — issue 12 made it 2:
business-time order, instruments, valuation methods) leaves every row the previous fold wrote
unusable to this one. Such a row is never served as current: the read path answers it with the
fund's log folded in memory by this fold (fund_state.py) and the apply path folds the fund again
from the log before applying anything to it (apply.py). Both are correct but cost a read of the
fund's whole stream, so the rows are brought to this fold once, at start-up:

1. If any row is stale (its fold_version column, or the fold version inside its JSON, is not
   this fold's), the whole-table rebuild of RebuildProjection (rebuild.py) runs as a background
   task: the log replayed in position order into a fresh table, swapped in under the table lock
   while reads go on. One sequential read of the log is far cheaper than one stream read per
   fund, and after a fold bump every row is stale anyway.
2. Then the rows still stale are folded again in place, fund by fund, through the live apply
   path (CatchUp.refold_stale: the same exactly-once transaction; a fund whose log cannot be
   folded is set aside with an alert). That is all there is to do when the rebuild could not
   finish (another one was running, a fund's log could not be folded so nothing was swapped, the
   live table stayed too busy to swap), and it catches rows a replica of the older fold, still
   running during a rolling deploy, wrote after the swap.

The event store being away is retried every interval, the whole pass again. Only the worker that
runs the catch-up runs this (WorkerSettings.leader), and a rebuild is one at a time across
replicas (rebuild_lock.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from fundledger_kernel.fund import FOLD_VERSION
from fundledger_platform.errors import Unavailable

from projector.service_layer.ports import ProjectionRows
from projector.service_layer.rebuild import RebuildResult

log = logging.getLogger(__name__)


class FoldUpgrade:
    def __init__(
        self,
        rows: ProjectionRows,
        rebuild: Callable[[], Awaitable[RebuildResult]],
        refold_in_place: Callable[[], Awaitable[int]],
        *,
        retry_seconds: float,
    ) -> None:
        self._rows = rows
        self._rebuild = rebuild
        self._refold_in_place = refold_in_place
        self._retry = retry_seconds

    async def run_once(self) -> bool:
        """Brings every stale row to this fold; returns whether there was any. Unavailable
        when the event store is away (nothing half done is left wrong: a rebuild swaps all or
        nothing, each in-place refold is one transaction)."""
        if not await self._rows.stale(FOLD_VERSION, None, 1):
            return False
        log.info("rows of another fold version found: rebuilding with fold %d", FOLD_VERSION)
        try:
            result = await self._rebuild()
            log.info(
                "fold %d rebuild swapped in: %d funds, %d events",
                FOLD_VERSION,
                result.fund_count,
                result.events_replayed,
            )
        except Unavailable:
            raise
        except Exception as err:  # whatever the cause, the in-place pass below covers it
            log.warning("fold upgrade rebuild did not swap (%s); refolding rows in place", err)
        refolded = await self._refold_in_place()
        if refolded:
            log.info("refolded %d funds written by another fold version in place", refolded)
        return True

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
                return
            except asyncio.CancelledError:
                raise
            except Unavailable as err:  # the event store is starting or restarting
                log.warning("fold upgrade: %s; retrying", err.message)
            except Exception:
                log.exception("fold upgrade failed; retrying")
            await asyncio.sleep(self._retry)
