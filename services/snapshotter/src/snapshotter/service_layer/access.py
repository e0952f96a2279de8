"""Whether the caller may see a fund at all: the first step of every RPC.

A fund belongs to the tenant the event store recorded for its stream. A caller bound to
another tenant (or a fund recorded without one) gets NOT_FOUND FUND_NOT_FOUND — exactly what a
fund the log never heard of gets — from GetFundStateAt, ListSnapshots, GetTimeline and
CreateSnapshot alike, before anything is read or written for them.

The tenant is looked up where the snapshotter records it (its progress row, filled from every
event it sees); a fund it has not seen yet is asked of the event store (its first event). The
snapshotter's reads of the event store made while handling a person's call act for that person,
so the event store narrows them to the person's tenant as well; this check does not rely on
that, and the snapshot store narrows its reads too (adapters/snapshot_store.py).
"""

from __future__ import annotations

from fundledger_platform.auth.tenancy import tenant_scope, visible

from snapshotter.service_layer.errors import fund_not_found
from snapshotter.service_layer.ports import EventLog, ProgressStore


class FundAccess:
    def __init__(self, progress: ProgressStore, events: EventLog) -> None:
        self._progress = progress
        self._events = events

    async def require(self, fund_id: str) -> None:
        """NotFound (FUND_NOT_FOUND) when the caller may not see ``fund_id``; PermissionDenied
        (TENANT_MISSING) for a person without a tenant. Callers bound to no tenant pass
        without a lookup. A fund unknown to the log passes: the use case answers NOT_FOUND
        for it as always."""
        if tenant_scope() is None:
            return
        owner = await self._progress.tenant_of(fund_id)
        if owner is None:
            first = await self._events.read_stream(fund_id, from_version=1, max_count=1)
            if not first:
                return
            owner = first[0].tenant
        if not visible(owner):
            raise fund_not_found(fund_id)
