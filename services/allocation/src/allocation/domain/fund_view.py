"""A fund as allocation sees it: the folded state plus its audit trail, at one version.

Both are computed from the same events in one pass, so the audit trail and the state always
describe the same version of the fund. The view also carries the fund's tenant, as the event
store recorded it on the fund's events: callers of another tenant must not be shown it.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC

from fundledger.fund.v1 import events_pb2 as ev
from fundledger_kernel.fund import FundState, empty_state, evolve
from fundledger_kernel.fund.fold_input import LoggedEvent, fold_inputs

from allocation.domain.audit import AuditRecord, audit_record


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
    """`view` with `events` folded in.

    Raises the kernel's FundLogError (a gap, or a payload that does not decode) rather than
    folding what it can: allocation would otherwise check proposals against amounts the fund
    never had.
    """
    decoded = fold_inputs(view.version, events)
    tenant = view.tenant or next((e.tenant for e in events if e.tenant), None)
    state = view.state
    audits: list[AuditRecord] = []
    for logged, event in zip(events, decoded, strict=True):
        state = evolve(state, event)
        if isinstance(event.data, ev.ReallocationCommitted):
            recorded_at = event.recorded_at.astimezone(UTC)
            audits.append(
                audit_record(event.data, event.version, logged.event_id, recorded_at, tenant)
            )
    if not audits:
        return FundView(state, view.audits, tenant)
    return FundView(state, (*view.audits, *audits), tenant)
