"""A proposal and what it would change. Money is integer cents everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from allocation.domain.findings import Finding, FindingType


@dataclass(frozen=True, slots=True)
class ProposedAmount:
    """One company's proposed planned reserves (absolute, not a delta)."""

    company_id: str
    planned_reserves_cents: int


@dataclass(frozen=True, slots=True)
class Proposal:
    """Amounts proposed against the fund version the caller last saw."""

    expected_version: int
    amounts: tuple[ProposedAmount, ...]


@dataclass(frozen=True, slots=True)
class Change:
    """One company whose planned reserves would change."""

    company_id: str
    name: str
    from_cents: int
    to_cents: int

    @property
    def delta_cents(self) -> int:
        return self.to_cents - self.from_cents


@dataclass(frozen=True, slots=True)
class Totals:
    """Total planned reserves over the whole fund, before and after."""

    before_cents: int
    after_cents: int

    @property
    def delta_cents(self) -> int:
        return self.after_cents - self.before_cents


@dataclass(frozen=True, slots=True)
class Plan:
    """What committing a proposal at `version` would do, and what the rules say about it."""

    fund_id: str
    # The fund version the plan was computed at (the state's version).
    version: int
    expected_version: int
    # Changed companies only, ordered by company id.
    changes: tuple[Change, ...]
    totals: Totals
    # Errors first (see findings.ordered).
    findings: tuple[Finding, ...]
    # The two clocks of the state the plan was computed on (None: a fund with no events): the
    # latest business (effective) time folded into it, and the latest recorded time, i.e. the
    # recorded_at of the event at `version`. REALLOCATION_COMMITTED records both, so an auditor
    # can rebuild exactly the state the decision saw (GetFundStateAt at_version = version).
    baseline_effective_at: datetime | None = None
    baseline_recorded_at: datetime | None = None

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.is_error)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.is_error)

    @property
    def commit_allowed(self) -> bool:
        return not self.errors

    @property
    def version_conflict(self) -> bool:
        return any(f.type is FindingType.VERSION_CONFLICT for f in self.findings)
