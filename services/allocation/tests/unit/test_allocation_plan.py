"""plan_reallocation: changes, totals and which rows appear (pure, no server)."""

from __future__ import annotations

from allocation.domain.findings import FindingType
from allocation.domain.money import format_cents
from allocation.domain.plan import plan_reallocation
from allocation.domain.thresholds import Thresholds
from allocation_support import Company, fund_state, proposal

# Thresholds no test here crosses, so only the findings under test appear.
QUIET = Thresholds(concentration_bps=10_000, fund_share_bps=1_000_000)

PORTFOLIO = [
    Company("acme", "Acme", planned=100_000_000),  # 1,000,000.00
    Company("beta", "Beta", planned=40_000_000),
    Company("gamma", "Gamma", planned=0),
]


def test_worked_example_one_million_to_one_and_a_half() -> None:
    state = fund_state(PORTFOLIO)
    plan = plan_reallocation(state, proposal(state.version, ("acme", 150_000_000)), QUIET)

    [change] = plan.changes
    assert (change.company_id, change.name) == ("acme", "Acme")
    assert (change.from_cents, change.to_cents, change.delta_cents) == (
        100_000_000,
        150_000_000,
        50_000_000,
    )
    assert format_cents(change.from_cents) == "1,000,000.00"
    assert format_cents(change.to_cents) == "1,500,000.00"
    assert format_cents(change.delta_cents) == "500,000.00"
    # Totals are over the whole fund, not only the proposed rows.
    assert plan.totals.before_cents == 140_000_000
    assert plan.totals.after_cents == 190_000_000
    assert plan.totals.delta_cents == 50_000_000
    assert plan.findings == ()
    assert plan.commit_allowed
    assert plan.version == state.version


def test_unchanged_rows_are_omitted_and_changes_are_ordered_by_company() -> None:
    state = fund_state(PORTFOLIO)
    plan = plan_reallocation(
        state,
        proposal(
            state.version,
            ("gamma", 7_000_000),
            ("acme", 100_000_000),  # unchanged
            ("beta", 10_000_000),
        ),
        QUIET,
    )
    assert [(c.company_id, c.from_cents, c.to_cents) for c in plan.changes] == [
        ("beta", 40_000_000, 10_000_000),
        ("gamma", 0, 7_000_000),
    ]
    assert plan.totals.before_cents == 140_000_000
    assert plan.totals.after_cents == 140_000_000 - 30_000_000 + 7_000_000
    assert plan.totals.delta_cents == -23_000_000


def test_a_proposal_changing_nothing_has_no_rows_and_equal_totals() -> None:
    state = fund_state(PORTFOLIO)
    plan = plan_reallocation(state, proposal(state.version, ("beta", 40_000_000)), QUIET)
    assert plan.changes == ()
    assert plan.totals.before_cents == plan.totals.after_cents == 140_000_000
    assert plan.commit_allowed


def test_totals_stay_exact_far_beyond_float_precision() -> None:
    huge = 2**62  # a float would lose the last digits of these sums
    state = fund_state([Company("a", planned=huge), Company("b", planned=huge - 1)])
    plan = plan_reallocation(state, proposal(state.version, ("b", huge + 1)), QUIET)
    assert plan.totals.before_cents == 2 * huge - 1
    assert plan.totals.after_cents == 2 * huge + 1
    assert plan.totals.delta_cents == 2


def test_unknown_company_has_no_row_and_does_not_count_in_totals() -> None:
    state = fund_state(PORTFOLIO)
    plan = plan_reallocation(
        state, proposal(state.version, ("nope", 5_000_000), ("beta", 50_000_000)), QUIET
    )
    assert [c.company_id for c in plan.changes] == ["beta"]
    assert plan.totals.after_cents == 150_000_000
    assert [f.type for f in plan.errors] == [FindingType.COMPANY_NOT_FOUND]


def test_duplicate_company_shows_its_first_amount() -> None:
    state = fund_state(PORTFOLIO)
    plan = plan_reallocation(
        state, proposal(state.version, ("beta", 1_000), ("beta", 2_000)), QUIET
    )
    assert [(c.company_id, c.to_cents) for c in plan.changes] == [("beta", 1_000)]
    assert [f.type for f in plan.errors] == [FindingType.DUPLICATE_COMPANY]
    assert not plan.commit_allowed


def test_warnings_do_not_block_a_commit() -> None:
    state = fund_state(PORTFOLIO)
    plan = plan_reallocation(state, proposal(state.version, ("acme", 150_000_000)), Thresholds())
    assert [f.type for f in plan.findings] == [FindingType.HIGH_CONCENTRATION]
    assert plan.warnings == plan.findings
    assert plan.commit_allowed
