"""Caller-visible failures of the use cases, with their google.rpc details.

A blocked commit carries its error findings in the ErrorInfo metadata, so a caller can tell
why without a second call: `finding_count` and `finding_<i>` = `<TYPE>:<company_id>` (company
empty for fund-wide findings), errors only, in the preview's order. Keys follow AIP-193
(`[a-z][a-zA-Z0-9-_]+`). At most MAX_DETAIL_FINDINGS are listed: the details travel in a gRPC
trailer, and a proposal with a thousand bad rows must not overflow the caller's metadata limit
(8 KiB by default) and turn a clear FAILED_PRECONDITION into an opaque transport error.
"""

from __future__ import annotations

from collections.abc import Sequence

from fundledger_platform.errors import Aborted, DomainError, FailedPrecondition, NotFound
from fundledger_platform.reasons import Reason

from allocation.domain.findings import Finding, FindingType
from allocation.domain.model import Plan

MAX_DETAIL_FINDINGS = 10


def fund_not_found(fund_id: str) -> NotFound:
    return NotFound(
        f"fund {fund_id} has no events",
        reason=Reason.FUND_NOT_FOUND,
        metadata={"fund_id": fund_id},
    )


def findings_metadata(findings: Sequence[Finding]) -> dict[str, str]:
    metadata = {"finding_count": str(len(findings))}
    for index, finding in enumerate(findings[:MAX_DETAIL_FINDINGS]):
        metadata[f"finding_{index}"] = f"{finding.type.value}:{finding.company_id}"
    return metadata


def blocked(plan: Plan) -> DomainError:
    """A commit refused by its error findings; nothing was written.

    ABORTED when the fund moved on (VERSION_CONFLICT among the errors): the caller must preview
    again at `current_version` and may then retry. FAILED_PRECONDITION otherwise: retrying the
    same proposal cannot succeed until the proposal (or the fund) changes.
    """
    errors = plan.errors
    metadata = {
        "fund_id": plan.fund_id,
        "expected_version": str(plan.expected_version),
        "current_version": str(plan.version),
        **findings_metadata(errors),
    }
    summary = "; ".join(f.message for f in errors[:3]) + ("; ..." if len(errors) > 3 else "")
    if plan.version_conflict:
        # The event store's key for the same condition, so one client handles both.
        metadata["actual_version"] = str(plan.version)
        return Aborted(
            f"version conflict, nothing written: {summary}",
            reason=Reason.WRONG_EXPECTED_VERSION,
            metadata=metadata,
        )
    return FailedPrecondition(
        f"the reallocation has {len(errors)} error finding(s), nothing written: {summary}",
        reason=Reason.REALLOCATION_BLOCKED,
        metadata=metadata,
    )


def conflict_on_append(fund_id: str, expected: int, current: int | None) -> Aborted:
    """The event store refused the expected version: someone appended since we read the fund."""
    finding = Finding(FindingType.VERSION_CONFLICT, "", "")
    metadata = {"fund_id": fund_id, "expected_version": str(expected)}
    if current is not None:
        metadata["current_version"] = metadata["actual_version"] = str(current)
    metadata.update(findings_metadata([finding]))
    at = f"version {current}" if current is not None else "a later version"
    return Aborted(
        f"the fund changed concurrently: it is at {at}, the proposal was made against version"
        f" {expected}; nothing written",
        reason=Reason.WRONG_EXPECTED_VERSION,
        metadata=metadata,
    )
