"""Every finding type, and the thresholds exactly at and just past their boundary."""

from __future__ import annotations

import pytest
from allocation.domain.findings import Finding, FindingType, Severity
from allocation.domain.plan import plan_reallocation
from allocation.domain.thresholds import Thresholds, exceeds_share
from allocation_support import Company, fund_state, proposal

QUIET = Thresholds(concentration_bps=10_000, fund_share_bps=1_000_000)


def findings_of(companies: list[Company], *amounts: tuple[str, int], **kw: int) -> list[Finding]:
    thresholds = Thresholds(**kw) if kw else QUIET
    state = fund_state(companies)
    return list(plan_reallocation(state, proposal(state.version, *amounts), thresholds).findings)


def kinds(findings: list[Finding]) -> list[tuple[FindingType, str]]:
    return [(f.type, f.company_id) for f in findings]


def test_cap_exceeded_above_the_cap_only() -> None:
    companies = [Company("a", cap=1_000_00)]
    assert kinds(findings_of(companies, ("a", 1_000_01))) == [(FindingType.CAP_EXCEEDED, "a")]
    assert findings_of(companies, ("a", 1_000_00)) == []  # exactly at the cap is allowed


def test_cap_zero_means_no_cap() -> None:
    found = findings_of([Company("a", cap=0)], ("a", 10**15))
    assert [f for f in found if f.is_error] == []


def test_cap_message_shows_amounts_exactly() -> None:
    [finding] = findings_of([Company("a", cap=100_000_000)], ("a", 150_000_000))
    assert "1,500,000.00" in finding.message
    assert "1,000,000.00" in finding.message
    assert finding.severity is Severity.ERROR


def test_negative_allocation() -> None:
    assert kinds(findings_of([Company("a")], ("a", -1))) == [(FindingType.NEGATIVE_ALLOCATION, "a")]


def test_zero_is_not_negative() -> None:
    assert findings_of([Company("a", planned=5)], ("a", 0)) == []


def test_company_not_found() -> None:
    assert kinds(findings_of([Company("a")], ("zzz", 1))) == [
        (FindingType.COMPANY_NOT_FOUND, "zzz")
    ]


def test_duplicate_company_is_reported_once_per_company() -> None:
    found = findings_of([Company("a")], ("a", 1), ("a", 2), ("a", 3))
    assert kinds(found) == [(FindingType.DUPLICATE_COMPANY, "a")]
    assert "3 times" in found[0].message


def test_empty_proposal() -> None:
    assert kinds(findings_of([Company("a")])) == [(FindingType.EMPTY_PROPOSAL, "")]


def test_version_conflict_when_expected_is_not_current() -> None:
    state = fund_state([Company("a")])
    for expected in (state.version - 1, state.version + 1, 0):
        plan = plan_reallocation(state, proposal(expected, ("a", 1)), QUIET)
        assert kinds(list(plan.findings)) == [(FindingType.VERSION_CONFLICT, "")]
        assert plan.version_conflict
        assert not plan.commit_allowed


def _concentration(amounts: list[int], bps: int = 3000) -> list[Finding]:
    companies = [Company(f"c{i}") for i in range(len(amounts))]
    proposed = [(f"c{i}", amount) for i, amount in enumerate(amounts)]
    found = findings_of(companies, *proposed, concentration_bps=bps, fund_share_bps=1_000_000)
    return [f for f in found if f.type is FindingType.HIGH_CONCENTRATION]


def test_concentration_exactly_at_30_percent_is_no_warning() -> None:
    assert _concentration([3000, 2500, 2500, 2000]) == []  # 3000 / 10000 = 30 %


def test_concentration_just_above_30_percent_warns() -> None:
    [warning] = _concentration([3001, 2500, 2500, 2000])  # 3001 / 10001 = 30.006 %
    assert warning.company_id == "c0"
    assert warning.severity is Severity.WARNING
    assert "30.01 %" in warning.message  # 30.006 % rounded for people, compared exactly


def test_concentration_one_cent_matters_on_large_amounts() -> None:
    # 30 % of 10,000,000,000.00 exactly, then one cent more out of the others.
    total = 1_000_000_000_000
    at = [300_000_000_000, 250_000_000_000, 250_000_000_000, 200_000_000_000]
    assert sum(at) == total
    assert _concentration(at) == []
    above = [at[0] + 1, at[1] - 1, at[2], at[3]]
    assert [f.company_id for f in _concentration(above)] == ["c0"]


def test_concentration_looks_at_every_company_after_the_change() -> None:
    companies = [Company("big", planned=900), Company("small", planned=100)]
    found = findings_of(companies, ("small", 50), concentration_bps=3000)
    assert kinds(found) == [(FindingType.HIGH_CONCENTRATION, "big")]


def test_no_concentration_when_nothing_is_planned() -> None:
    assert _concentration([0, 0]) == []


def _fund_share(total_after: int, fund_size: int = 100_000_000) -> list[Finding]:
    state = fund_state([Company("a")], committed=fund_size)
    thresholds = Thresholds(concentration_bps=10_000, fund_share_bps=5000)
    plan = plan_reallocation(state, proposal(state.version, ("a", total_after)), thresholds)
    return [f for f in plan.findings if f.type is FindingType.ALLOCATION_EXCEEDS_FUND_SHARE]


def test_fund_share_exactly_at_50_percent_is_no_warning() -> None:
    assert _fund_share(50_000_000) == []


def test_fund_share_one_cent_above_50_percent_warns() -> None:
    [warning] = _fund_share(50_000_001)
    assert warning.company_id == ""
    assert warning.severity is Severity.WARNING
    assert "500,000.01" in warning.message
    assert "1,000,000.00" in warning.message


def test_fund_share_without_a_fund_size_warns_for_any_reserve() -> None:
    assert _fund_share(1, fund_size=0) != []
    assert _fund_share(0, fund_size=0) == []


def test_thresholds_are_settings() -> None:
    # 40 % concentration: a warning at the default 30 %, none at 45 %.
    assert _concentration([40, 30, 30]) != []
    assert _concentration([40, 30, 30], bps=4500) == []


@pytest.mark.parametrize(
    ("part", "whole", "bps", "above"),
    [(3, 10, 3000, False), (4, 10, 3000, True), (0, 0, 0, False), (1, 0, 5000, True)],
)
def test_exceeds_share_is_strict_and_exact(part: int, whole: int, bps: int, above: bool) -> None:
    assert exceeds_share(part, whole, bps) is above


def test_errors_come_first_then_by_rule_then_company() -> None:
    state = fund_state(
        [Company("a", cap=10), Company("b", planned=1000), Company("c")], committed=100
    )
    plan = plan_reallocation(
        state,
        proposal(state.version + 5, ("c", -1), ("a", 11), ("x", 1), ("c", 1)),
        Thresholds(),
    )
    assert kinds(list(plan.findings)) == [
        (FindingType.CAP_EXCEEDED, "a"),
        (FindingType.NEGATIVE_ALLOCATION, "c"),
        (FindingType.COMPANY_NOT_FOUND, "x"),
        (FindingType.DUPLICATE_COMPANY, "c"),
        (FindingType.VERSION_CONFLICT, ""),
        (FindingType.HIGH_CONCENTRATION, "b"),
        (FindingType.ALLOCATION_EXCEEDS_FUND_SHARE, ""),
    ]
    assert [f.severity for f in plan.findings] == [Severity.ERROR] * 5 + [Severity.WARNING] * 2
