"""The bus consumer's batch handler: one fund's events of one fetch into one apply.

It returns after the commit, so the acks follow it. A failure leaves the batch
unacknowledged (redelivered, then skipped or applied by the version check like
any redelivery), except a FundLogError — the fund's log cannot be folded — which
is let through on purpose: BusConsumer halts that fund (terminates its
messages, alerts) instead of redelivering it forever, and the other funds flow.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_kernel.streams import FUND_CATEGORY, is_fund_id
from fundledger_platform.chain_check import chained_event

from projector.service_layer.applier import Applier

log = logging.getLogger(__name__)


class BusBatchHandler:
    def __init__(self, applier: Applier) -> None:
        self._applier = applier

    async def handle(self, events: Sequence[RecordedEvent]) -> None:
        if not events:
            return
        first = events[0]
        if first.category != FUND_CATEGORY or not is_fund_id(first.stream_id):
            # The subject filter should make this impossible; never wedge on it.
            log.warning("ignoring %s v%d: not a fund stream", first.stream_id, first.version)
            return
        await self._applier.apply(first.stream_id, [chained_event(e) for e in events])
