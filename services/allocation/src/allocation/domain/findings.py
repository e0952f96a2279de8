"""Findings: one rule's verdict on a proposal, and the order callers see them in."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum


class Severity(Enum):
    """ERROR blocks a commit; WARNING only informs."""

    ERROR = "ERROR"
    WARNING = "WARNING"


class FindingType(Enum):
    """The rules, in the contract's order (which is also the order findings are listed in)."""

    CAP_EXCEEDED = "CAP_EXCEEDED"
    NEGATIVE_ALLOCATION = "NEGATIVE_ALLOCATION"
    COMPANY_NOT_FOUND = "COMPANY_NOT_FOUND"
    DUPLICATE_COMPANY = "DUPLICATE_COMPANY"
    EMPTY_PROPOSAL = "EMPTY_PROPOSAL"
    VERSION_CONFLICT = "VERSION_CONFLICT"
    HIGH_CONCENTRATION = "HIGH_CONCENTRATION"
    ALLOCATION_EXCEEDS_FUND_SHARE = "ALLOCATION_EXCEEDS_FUND_SHARE"

    @property
    def severity(self) -> Severity:
        # Fixed per rule, not chosen per finding: whether a rule blocks is policy, and a caller
        # must be able to rely on it.
        return Severity.WARNING if self in _WARNINGS else Severity.ERROR


_WARNINGS = frozenset({FindingType.HIGH_CONCENTRATION, FindingType.ALLOCATION_EXCEEDS_FUND_SHARE})
_TYPE_ORDER = {finding_type: index for index, finding_type in enumerate(FindingType)}


@dataclass(frozen=True, slots=True)
class Finding:
    type: FindingType
    # The company concerned; "" for fund-wide findings (empty proposal, version, fund share).
    company_id: str
    message: str

    @property
    def severity(self) -> Severity:
        return self.type.severity

    @property
    def is_error(self) -> bool:
        return self.type.severity is Severity.ERROR


def ordered(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Errors first, then by rule, then by company id: the same findings always list the same."""
    return tuple(
        sorted(
            findings,
            key=lambda f: (not f.is_error, _TYPE_ORDER[f.type], f.company_id, f.message),
        )
    )
