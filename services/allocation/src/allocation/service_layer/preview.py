"""PreviewReallocation: the plan of a proposal at the fund's current version. Writes nothing."""

from __future__ import annotations

from collections.abc import Iterable

from allocation.domain.findings import Finding
from allocation.domain.model import Plan, Proposal
from allocation.domain.plan import plan_reallocation
from allocation.domain.thresholds import Thresholds
from allocation.metrics import FINDINGS
from allocation.service_layer.fund_views import FundViews


async def preview(
    views: FundViews, thresholds: Thresholds, fund_id: str, proposal: Proposal
) -> Plan:
    view = await views.current(fund_id)
    plan = plan_reallocation(view.state, proposal, thresholds)
    count_findings("preview", plan.findings)
    return plan


def count_findings(rpc: str, findings: Iterable[Finding]) -> None:
    for finding in findings:
        FINDINGS.labels(rpc, finding.type.value, finding.severity.value).inc()
