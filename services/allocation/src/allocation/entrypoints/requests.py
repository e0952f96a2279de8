"""Request fields -> domain inputs, refusing malformed ones as INVALID_ARGUMENT naming the field.

What is checked here is the request's shape (ids present, lengths, sizes). Business rules on the
amounts (negative, over the cap, unknown or repeated company, empty proposal) are not: they are
findings, so a preview can show all of them at once instead of failing on the first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fundledger.allocation.v1 import allocation_pb2 as pb
from fundledger_platform.errors import InvalidArgument
from fundledger_platform.fields import MAX_ID_LENGTH, has_control_characters, required, text
from fundledger_platform.pagination import decode_page_token, integers, page_size
from fundledger_platform.reasons import Reason

from allocation.domain.model import Proposal, ProposedAmount

# Ids, user ids and idempotency keys are at most MAX_ID_LENGTH (the event store's limit): refused
# here, by our field name, rather than later by the store, naming a field the caller never sent.
MAX_REASON_LENGTH = 2000
# The largest planned reserve one company may be given, in cents (ten trillion in the fund's
# currency). Plans add amounts up (totals, deltas); bounded amounts keep every sum of up to
# ALLOCATION_MAX_PROPOSALS of them inside the int64 of the response, where a larger one would
# fail the call as INTERNAL instead of telling the caller.
MAX_PLANNED_RESERVES_CENTS = 10**15
# The kind of ListReallocationAudit's page tokens; their scope is the fund id, so a token
# passed with another fund is refused instead of paging that fund from a foreign version.
AUDIT_PAGE = "audit"


def _invalid(field: str, message: str, reason: Reason) -> InvalidArgument:
    return InvalidArgument(f"{field} {message}", reason=reason, field=field)


def check_expected_version(value: int) -> int:
    if value < 0:
        raise _invalid("expected_version", "must not be negative", Reason.EXPECTED_VERSION_INVALID)
    return value


def proposal_of(
    expected_version: int, proposals: Sequence[pb.Proposal], max_proposals: int
) -> Proposal:
    """The domain proposal; an empty list is allowed here (it is the EMPTY_PROPOSAL finding)."""
    if len(proposals) > max_proposals:
        raise _invalid(
            "proposals",
            f"has {len(proposals)} entries, more than the {max_proposals} allowed per request",
            Reason.TOO_MANY_PROPOSALS,
        )
    amounts = []
    for index, item in enumerate(proposals):
        field = f"proposals[{index}].company_id"
        if not item.company_id:
            raise _invalid(field, "is required", Reason.PROPOSAL_INVALID)
        if len(item.company_id) > MAX_ID_LENGTH or "\x00" in item.company_id:
            raise _invalid(
                field,
                f"must be at most {MAX_ID_LENGTH} characters, without NUL",
                Reason.PROPOSAL_INVALID,
            )
        amount = item.planned_reserves_cents
        if abs(amount) > MAX_PLANNED_RESERVES_CENTS:
            raise _invalid(
                f"proposals[{index}].planned_reserves_cents",
                f"must be between -{MAX_PLANNED_RESERVES_CENTS} and {MAX_PLANNED_RESERVES_CENTS}",
                Reason.PROPOSAL_INVALID,
            )
        amounts.append(ProposedAmount(item.company_id, amount))
    return Proposal(check_expected_version(expected_version), tuple(amounts))


def _printable_id(value: str, field: str) -> str:
    return text(value, field, max_length=MAX_ID_LENGTH)


def check_user_id(value: str) -> str:
    """Required: the audit trail must say who."""
    return _printable_id(required(value, "user_id"), "user_id")


def check_idempotency_key(value: str) -> str:
    """Optional: without one, a retry is a new commit (refused on the version if the first
    landed). With one, a retry replays the original result."""
    return _printable_id(value, "idempotency_key")


def check_reason(value: str) -> str:
    """Required: the audit trail must say why. Free text; tabs and line breaks allowed, NUL
    (PostgreSQL's jsonb, where the event store keeps it, cannot hold it) and other control
    characters (terminal escapes, shown wherever the audit trail is printed) are not."""
    if not value.strip():
        raise _invalid("reason", "is required", Reason.REASON_INVALID)
    if len(value) > MAX_REASON_LENGTH or has_control_characters(value, multiline=True):
        raise _invalid(
            "reason",
            f"must be at most {MAX_REASON_LENGTH} characters, without NUL or control characters",
            Reason.REASON_INVALID,
        )
    return value


@dataclass(frozen=True, slots=True)
class AuditQuery:
    size: int
    # Entries below this version (None: from the newest).
    before: int | None


def audit_query(fund_id: str, request: pb.ListReallocationAuditRequest) -> AuditQuery:
    cursor = decode_page_token(request.page_token, AUDIT_PAGE, integers(1), scope=fund_id)
    return AuditQuery(page_size(request.page_size), None if cursor is None else cursor[0])
