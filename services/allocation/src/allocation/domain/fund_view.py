"""A fund as allocation sees it: the folded state plus its audit trail, at one version.

Both are computed from the same events, so the audit trail and the state always describe the
same version of the fund. The view also carries the fund's tenant, as the event store recorded
it on the fund's events: callers of another tenant must not be shown it.

The state is the kernel's fold of every event up to the view's version in business-time order
((effective_at, version), fund/fold.py), exactly what a fold from scratch gives. New events are
folded on top of a view only when they all sort after it; a backdated one (effective before
what the view already holds) makes `advance` raise the kernel's BackdatedEventError, and the
caller refolds from the first event (service_layer/fund_views.py). The audit trail is in
version order: it lists decisions as they were recorded, whatever their business dates.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC

from fundledger.fund.v1 import events_pb2 as ev
from fundledger_kernel.fund import FundState, empty_state
from fundledger_kernel.fund.events import decode_stored_event
from fundledger_kernel.fund.fold_input import LoggedEvent, fold_logged

from allocation.domain.audit import AuditRecord, audit_record
from allocation.domain.commit_events import REALLOCATION_COMMITTED


@dataclass(frozen=True, slots=True)
class FundView:
    state: FundState
    # Committed reallocations, oldest first (ascending version).
    audits: tuple[AuditRecord, ...] = ()
    # The fund's tenant (None: none recorded). Set by the first event that names one: a
    # stream's events all carry its tenant, except the ones this service built from its own
    # append (commit_events.as_logged), which leave it as it was.
    tenant: str | None = None

    @property
    def fund_id(self) -> str:
        return self.state.fund_id

    @property
    def version(self) -> int:
        return self.state.version

    def audits_before(self, version: int | None, limit: int) -> list[AuditRecord]:
        """Up to `limit` entries with a version below `version` (None: all), newest first."""
        end = (
            len(self.audits)
            if version is None
            else bisect.bisect_left(self.audits, version, key=lambda record: record.version)
        )
        return list(reversed(self.audits[max(0, end - limit) : end]))


def empty_view(fund_id: str) -> FundView:
    return FundView(empty_state(fund_id))


def advance(view: FundView, events: Sequence[LoggedEvent]) -> FundView:
    """`view` with `events` (continuing its version) folded in.

    Raises the kernel's FundLogError (a gap, or a payload that does not decode) rather than
    folding what it can: allocation would otherwise check proposals against amounts the fund
    never had. Raises BackdatedEventError when an event is effective before what the view holds:
    the view cannot be continued, only refolded (`advance(empty_view(...), every event)` never
    raises it).
    """
    state = fold_logged(view.state, events)
    tenant = view.tenant or next((e.tenant for e in events if e.tenant), None)
    audits: list[AuditRecord] = []
    for logged in events:
        if logged.event_type != REALLOCATION_COMMITTED:
            continue
        # fold_logged has decoded it already, so this cannot fail; decoding again (only the
        # rare audit events) keeps the fold the kernel's one call.
        event = decode_stored_event(
            logged.event_type,
            logged.data,
            logged.version,
            logged.recorded_at,
            schema_version=logged.schema_version,
            effective_at=logged.effective_at,
        )
        if isinstance(event.data, ev.ReallocationCommitted):
            recorded_at = event.recorded_at.astimezone(UTC)
            audits.append(
                audit_record(event.data, event.version, logged.event_id, recorded_at, tenant)
            )
    if not audits:
        return FundView(state, view.audits, tenant)
    return FundView(state, (*view.audits, *audits), tenant)
