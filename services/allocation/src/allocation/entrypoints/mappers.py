"""Domain -> proto conversions for the servicer's responses."""

from __future__ import annotations

from collections.abc import Iterable

from fundledger.allocation.v1 import allocation_pb2 as pb
from fundledger_platform.pagination import encode_page_token
from google.protobuf.timestamp_pb2 import Timestamp

from allocation.domain.audit import AuditRecord
from allocation.domain.findings import Finding, FindingType, Severity
from allocation.domain.model import Change, Plan, Totals
from allocation.entrypoints.requests import AUDIT_PAGE
from allocation.service_layer.audit_trail import AuditPage
from allocation.service_layer.commit import Committed

_TYPES = {
    FindingType.CAP_EXCEEDED: pb.FINDING_TYPE_CAP_EXCEEDED,
    FindingType.NEGATIVE_ALLOCATION: pb.FINDING_TYPE_NEGATIVE_ALLOCATION,
    FindingType.COMPANY_NOT_FOUND: pb.FINDING_TYPE_COMPANY_NOT_FOUND,
    FindingType.DUPLICATE_COMPANY: pb.FINDING_TYPE_DUPLICATE_COMPANY,
    FindingType.EMPTY_PROPOSAL: pb.FINDING_TYPE_EMPTY_PROPOSAL,
    FindingType.VERSION_CONFLICT: pb.FINDING_TYPE_VERSION_CONFLICT,
    FindingType.HIGH_CONCENTRATION: pb.FINDING_TYPE_HIGH_CONCENTRATION,
    FindingType.ALLOCATION_EXCEEDS_FUND_SHARE: pb.FINDING_TYPE_ALLOCATION_EXCEEDS_FUND_SHARE,
}
_SEVERITIES = {Severity.ERROR: pb.SEVERITY_ERROR, Severity.WARNING: pb.SEVERITY_WARNING}


def change(value: Change) -> pb.Change:
    return pb.Change(
        company_id=value.company_id,
        name=value.name,
        from_cents=value.from_cents,
        to_cents=value.to_cents,
        delta_cents=value.delta_cents,
    )


def totals(value: Totals) -> pb.Totals:
    return pb.Totals(
        before_cents=value.before_cents,
        after_cents=value.after_cents,
        delta_cents=value.delta_cents,
    )


def finding(value: Finding) -> pb.Finding:
    return pb.Finding(
        type=_TYPES[value.type],
        severity=_SEVERITIES[value.severity],
        company_id=value.company_id,
        message=value.message,
    )


def findings(values: Iterable[Finding]) -> list[pb.Finding]:
    return [finding(value) for value in values]


def preview_response(plan: Plan) -> pb.PreviewReallocationResponse:
    return pb.PreviewReallocationResponse(
        changes=[change(c) for c in plan.changes],
        totals=totals(plan.totals),
        findings=findings(plan.findings),
        commit_allowed=plan.commit_allowed,
        current_version=plan.version,
    )


def commit_response(result: Committed) -> pb.CommitReallocationResponse:
    plan = result.plan
    return pb.CommitReallocationResponse(
        changes=[change(c) for c in plan.changes],
        totals=totals(plan.totals),
        findings=findings(plan.warnings),
        baseline_version=plan.version,
        new_version=result.new_version,
        replayed=result.replayed,
    )


def audit_entry(record: AuditRecord) -> pb.AuditEntry:
    commit_time = Timestamp()
    commit_time.FromDatetime(record.recorded_at)
    entry = pb.AuditEntry(
        baseline_version=record.baseline_version,
        new_version=record.new_version,
        changes=[change(c) for c in record.changes],
        totals=totals(record.totals),
        reason=record.reason,
        user_id=record.user_id,
        commit_time=commit_time,
        event_id=record.event_id,
    )
    for field, moment in (
        ("baseline_effective_at", record.baseline_effective_at),
        ("baseline_recorded_at", record.baseline_recorded_at),
    ):
        if moment is not None:
            getattr(entry, field).FromDatetime(moment)
    return entry


def audit_response(fund_id: str, page: AuditPage) -> pb.ListReallocationAuditResponse:
    response = pb.ListReallocationAuditResponse(
        entries=[audit_entry(record) for record in page.entries]
    )
    if page.next_before is not None:
        response.next_page_token = encode_page_token(AUDIT_PAGE, [page.next_before], scope=fund_id)
    return response
