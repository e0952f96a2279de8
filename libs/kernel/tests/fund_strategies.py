"""Random valid fund event payloads for the kernel's property tests (hypothesis strategies)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from hypothesis import strategies as st

T = TypeVar("T")
Draw = Callable[[st.SearchStrategy[T]], T]

COMPANIES = ("c1", "c2", "c3", "c4")
UNKNOWN_TYPES = ("FUND_RENAMED", "SomethingNewer")
START = datetime(2026, 1, 1, tzinfo=UTC)

# Amounts as the event store accepts them (int64), weighted toward the ends that break things:
# ordinary sums, corrections below zero, and values near 2**62 whose sums pass int64.
amounts = st.one_of(
    st.integers(0, 10**9),
    st.integers(-(10**6), 0),
    st.integers(2**62 - 10**6, 2**63 - 1),
)
company_ids = st.sampled_from(COMPANIES)
names = st.text(max_size=6).filter(lambda text: "\x00" not in text)
metric_keys = st.fixed_dictionaries(
    {
        "company_id": company_ids,
        "metric": st.sampled_from(("revenue", "ebitda")),
        "period": st.sampled_from(("2027-Q1", "2027-Q2")),
    }
)
file_ids = st.sampled_from(("f1", "f2", "f3"))

PAYLOADS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "COMPANY_ADDED": st.fixed_dictionaries(
        {"company_id": company_ids, "name": names},
        optional={"allocation_cap_cents": amounts, "sector": names},
    ),
    "INVESTMENT_MADE": st.fixed_dictionaries(
        {"company_id": company_ids, "amount_cents": amounts},
        optional={
            "ownership_bps": st.integers(0, 10_000),
            "from_reserves": st.booleans(),
            "round": names,
        },
    ),
    "VALUATION_UPDATED": st.fixed_dictionaries(
        {"company_id": company_ids, "valuation_cents": amounts}
    ),
    "CAPITAL_CALLED": st.fixed_dictionaries(
        {"amount_cents": amounts}, optional={"call_number": st.integers(0, 99)}
    ),
    "DISTRIBUTION_MADE": st.fixed_dictionaries(
        {"amount_cents": amounts}, optional={"company_id": company_ids | st.just("")}
    ),
    "RESERVE_ALLOCATED": st.fixed_dictionaries(
        {"company_id": company_ids, "planned_reserves_cents": amounts}
    ),
    "FORECAST_CREATED": st.builds(lambda key, n: {**key, "amount_cents": n}, metric_keys, amounts),
    "ACTUAL_RECORDED": st.builds(lambda key, n: {**key, "amount_cents": n}, metric_keys, amounts),
    "REALLOCATION_COMMITTED": st.fixed_dictionaries(
        {
            "baseline_version": st.integers(0, 100),
            "new_version": st.integers(0, 100),
            "changes": st.lists(
                st.builds(
                    lambda c, a, b: {
                        "company_id": c,
                        "from_cents": a,
                        "to_cents": b,
                        "delta_cents": b - a,
                    },
                    company_ids,
                    st.integers(0, 10**9),
                    st.integers(0, 10**9),
                ),
                max_size=3,
            ),
        },
        optional={"reason": names},
    ),
    "FILE_ATTACHED": st.fixed_dictionaries(
        {"file_id": file_ids}, optional={"company_id": company_ids}
    ),
    "FILE_DETACHED": st.fixed_dictionaries({"file_id": file_ids}),
    **{unknown: st.just({"anything": 1}) for unknown in UNKNOWN_TYPES},
}
FUND_CREATED = st.fixed_dictionaries(
    {"name": names, "committed_capital_cents": amounts, "currency": st.just("USD")},
    optional={"vintage_year": st.integers(1990, 2100)},
)
