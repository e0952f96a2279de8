"""plan_reallocation: the changes, totals and findings of a proposal against a fund state.

Pure and total: whatever the proposal, it returns a plan (bad proposals get error findings, not
exceptions), so preview and commit run exactly the same code and cannot disagree.
"""

from __future__ import annotations

from fundledger_kernel.fund import FundState

from allocation.domain.findings import ordered
from allocation.domain.model import Change, Plan, Proposal, Totals
from allocation.domain.rules import (
    concentration_findings,
    fund_share_findings,
    proposal_findings,
    version_findings,
)
from allocation.domain.thresholds import Thresholds


def plan_reallocation(state: FundState, proposal: Proposal, thresholds: Thresholds) -> Plan:
    """What committing `proposal` on `state` would change, and the rules' findings."""
    # A company proposed twice (an error) shows its first amount, so the preview stays readable.
    proposed: dict[str, int] = {}
    for item in proposal.amounts:
        proposed.setdefault(item.company_id, item.planned_reserves_cents)

    changes = []
    for company_id in sorted(proposed):
        company = state.companies.get(company_id)
        if company is None:  # COMPANY_NOT_FOUND: nothing to change
            continue
        if proposed[company_id] != company.planned_reserves:  # unchanged rows are omitted
            changes.append(
                Change(company_id, company.name, company.planned_reserves, proposed[company_id])
            )

    before = state.total_planned_reserves
    totals = Totals(before, before + sum(change.delta_cents for change in changes))
    after = {company_id: c.planned_reserves for company_id, c in state.companies.items()}
    after.update((change.company_id, change.to_cents) for change in changes)

    findings = ordered(
        [
            *version_findings(state, proposal),
            *proposal_findings(state, proposal),
            *concentration_findings(after, totals.after_cents, thresholds),
            *fund_share_findings(state, totals.after_cents, thresholds),
        ]
    )
    return Plan(
        fund_id=state.fund_id,
        version=state.version,
        expected_version=proposal.expected_version,
        changes=tuple(changes),
        totals=totals,
        findings=findings,
        baseline_effective_at=state.last_effective_at,
        baseline_recorded_at=state.last_event_at,
    )
