"""The demo's late write-down: which holding, by how much, effective when. Pure.

The story: the Q3 report went out with every company at its quarter-end mark. Long after, the
fund learns that one of its larger holdings had lost its main customer in September, so its
Q3 value was overstated. The fix is not an edit of history but a new fact: a VALUATION_UPDATED
with method WRITE_DOWN, effective on the quarter's last day, recorded now. Events fold in
(effective_at, version) order, so it lands after the Q3 mark of the same day and becomes the
company's Q3 value, while the report as it went out stays reproducible from the log.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from fundledger.fund.v1 import events_pb2, state_pb2

from fundledger_cli.demo.portfolio import THOUSAND, round_to

# The holding keeps this share of its Q3 mark.
KEPT_PERCENT = 40
METHOD = "VALUATION_METHOD_WRITE_DOWN"


@dataclass(frozen=True, slots=True)
class WriteDown:
    company_id: str
    name: str
    # The business date it is effective on (the quarter's last day).
    effective_on: date
    before_cents: int
    after_cents: int

    @property
    def effective_at(self) -> datetime:
        """The start of that day, UTC: the same instant as the Q3 marks, after them by version."""
        return datetime.combine(self.effective_on, time(0, tzinfo=UTC))

    def payload(self) -> dict[str, object]:
        """VALUATION_UPDATED, schema version 2 (with its method)."""
        return {"companyId": self.company_id, "valuationCents": self.after_cents, "method": METHOD}


def choose_write_down(
    state: state_pb2.FundState, effective_on: date, exclude: Collection[str] = ()
) -> WriteDown:
    """The largest holding of `state` (the fund as of `effective_on`) that is not excluded and
    not already written down, cut to KEPT_PERCENT of its value (in $10,000 steps)."""
    candidates = [
        c
        for c in state.companies
        if c.company_id not in exclude
        and c.valuation_cents > 0
        and c.valuation_method != events_pb2.VALUATION_METHOD_WRITE_DOWN
    ]
    if not candidates:
        raise ValueError("no holding to write down")
    # Ties (same value) go to the lower company id, so the choice never depends on order.
    company = min(candidates, key=lambda c: (-c.valuation_cents, c.company_id))
    after = round_to(company.valuation_cents * KEPT_PERCENT // 100, 10 * THOUSAND)
    return WriteDown(
        company_id=company.company_id,
        name=company.name or company.company_id,
        effective_on=effective_on,
        before_cents=company.valuation_cents,
        after_cents=min(after, company.valuation_cents),
    )
