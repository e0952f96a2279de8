"""One portfolio company through the demo's two years: what the fund holds and what it reports.

`CompanySim` keeps the running figures of one company (holding value, invested, reserves,
ownership, share price) and writes the events of each step of its story to a recorder. Pure: all
randomness comes from the random.Random it is given; all arithmetic is on integer cents (share
prices on integer micros: millionths of a dollar).

Payloads are in their newest schema: INVESTMENT_MADE v2 names the instrument (priced rounds buy
EQUITY with shares at the round's price; bridges are CONVERTIBLE_NOTEs, no shares) and
VALUATION_UPDATED v2 names the method (LAST_ROUND at a priced round, MARK_TO_MODEL at quarter
ends and for notes carried at cost, WRITE_DOWN, EXIT). The share figures are derived from the
figures the story already draws, so they add no random draws: the history is the same as before
they existed.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Protocol

from fundledger_cli.demo.portfolio import DOLLAR, THOUSAND, CompanyPlan, round_to

METRICS = ("revenue", "gross_profit", "opex", "cash_balance")
_NEXT_STAGE = {"Seed": "Series A", "Series A": "Series B", "Series B": "Series C"}
_MAX_OWNERSHIP_BPS = 2_500
# Fully diluted shares of a company at the fund's first check, by stage: the first price per
# share is the round's post-money valuation (check / ownership) over these.
_FULLY_DILUTED_SHARES = {"Seed": 10_000_000, "Series A": 25_000_000}
# Micros (millionths of a currency unit) in a cent.
_MICROS_PER_CENT = 10_000

EQUITY = "INSTRUMENT_EQUITY"
CONVERTIBLE_NOTE = "INSTRUMENT_CONVERTIBLE_NOTE"
LAST_ROUND = "VALUATION_METHOD_LAST_ROUND"
MARK_TO_MODEL = "VALUATION_METHOD_MARK_TO_MODEL"
WRITE_DOWN = "VALUATION_METHOD_WRITE_DOWN"
EXIT = "VALUATION_METHOD_EXIT"


class Recorder(Protocol):
    def add(self, on: date, event_type: str, **data: object) -> None: ...


class CompanySim:
    def __init__(self, plan: CompanyPlan, start: date, rng: random.Random) -> None:
        self.plan = plan
        self._start = start
        self._rng = rng
        self.entered = False
        self.exit_month: int | None = None
        self.struggling = False
        self.value = 0
        self.invested = 0
        self.planned = 0
        self.deployed = 0
        self.ownership = plan.ownership_bps
        self.stage = plan.stage
        post_money = plan.check_cents * 10_000 // plan.ownership_bps
        fully_diluted = _FULLY_DILUTED_SHARES.get(plan.stage, 10_000_000)
        # Price per share of the latest priced round, in micros.
        self.price_micros = max(1, post_money * _MICROS_PER_CENT // fully_diluted)
        self._marked_quarter = -1
        seed = plan.stage == "Seed"
        # Monthly operating model, in cents; forecasts follow it, actuals scatter around it.
        self._revenue0 = (
            rng.randrange(15, 60) * THOUSAND if seed else rng.randrange(120, 350) * THOUSAND
        )
        self._growth_permille = 100 if plan.star else rng.randrange(30, 90)
        self._margin_pct = rng.randrange(55, 80)
        self._opex_fixed = (
            rng.randrange(150, 300) * THOUSAND if seed else rng.randrange(500, 900) * THOUSAND
        )
        self._cash0 = plan.check_cents * rng.randrange(250, 400) // 100
        self._bias_pct = 15 if plan.star else rng.randrange(-10, 7)
        self._forecasts: list[dict[str, int]] = []

    # -- lifecycle -------------------------------------------------------------------------

    def active_before(self, month: int) -> bool:
        """Invested in before `month` and not exited."""
        return self.entered and self.plan.entry_month < month and self.exit_month is None

    def enter(self, out: Recorder, added_on: date) -> None:
        plan = self.plan
        closes = min(added_on + timedelta(days=plan.close_days), _month_end(added_on))
        out.add(
            added_on,
            "COMPANY_ADDED",
            companyId=plan.company_id,
            name=plan.name,
            allocationCapCents=plan.cap_cents,
            sector=plan.sector,
        )
        self._reserve(out, closes, plan.reserves_cents)
        self._invest(out, closes, plan.check_cents, plan.stage, from_reserves=False)
        self._revalue(out, closes, plan.check_cents, LAST_ROUND)
        self.entered = True
        quarter_end = plan.entry_month - plan.entry_month % 3 + 3
        self._forecast_months(out, closes, plan.entry_month, quarter_end)

    def round(self, out: Recorder, on: date, kind: str, multiple_pct: int) -> None:
        """A priced follow-on round: up, flat or down; the fund follows from its reserves."""
        if self.exit_month is not None:
            return
        rng, plan = self._rng, self.plan
        if plan.star:
            # The breakout: reserves raised towards the cap before following on.
            self._reserve(out, on, min(plan.cap_cents, self.planned + plan.check_cents * 3))
            wanted = plan.check_cents * rng.randrange(150, 220) // 100
        else:
            wanted = self.planned * rng.randrange(40, 75) // 100
        amount = min(self.planned - self.deployed, round_to(wanted, 50 * THOUSAND))
        self.stage = _NEXT_STAGE.get(self.stage, self.stage)
        dilution = {"up": (82, 95), "flat": (92, 100), "down": (100, 115)}[kind]
        self.ownership = min(_MAX_OWNERSHIP_BPS, self.ownership * rng.randrange(*dilution) // 100)
        self.price_micros = max(1, self.price_micros * multiple_pct // 100)
        if amount > 0:
            self._invest(out, on, amount, self.stage, from_reserves=True)
        self._revalue(out, on, self.value * multiple_pct // 100 + max(amount, 0), LAST_ROUND)

    def bridge(self, out: Recorder, on: date) -> None:
        """An insider bridge note from reserves, carried at cost."""
        remaining = self.planned - self.deployed
        amount = min(
            remaining, round_to(remaining * self._rng.randrange(20, 35) // 100, 25 * THOUSAND)
        )
        if amount <= 0 or self.exit_month is not None:
            return
        self._invest(out, on, amount, "Bridge", from_reserves=True, instrument=CONVERTIBLE_NOTE)
        self._revalue(out, on, self.value + amount, MARK_TO_MODEL)

    def write_down(self, out: Recorder, on: date) -> None:
        """Marked down to a fraction of cost; the unused reserves are released."""
        self.struggling = True
        self._revalue(
            out,
            on,
            round_to(self.invested * self._rng.randrange(10, 30) // 100, 10 * THOUSAND),
            WRITE_DOWN,
        )
        if self.planned > self.deployed:
            self._reserve(out, on, self.deployed)

    def acquired(self, out: Recorder, on: date) -> None:
        """Sold to an acquirer at a premium to the last mark: the fund's first exit."""
        proceeds = round_to(self.value * self._rng.randrange(110, 150) // 100, 10 * THOUSAND)
        out.add(on, "DISTRIBUTION_MADE", amountCents=proceeds, companyId=self.plan.company_id)
        self._revalue(out, on, 0, EXIT)
        if self.planned > self.deployed:
            self._reserve(out, on, self.deployed)
        self.exit_month = self._month_of(on)

    def secondary(self, out: Recorder, on: date) -> None:
        """Part of the stake sold in a secondary at the current mark."""
        if self.exit_month is not None:
            return
        sold = round_to(self.value * self._rng.randrange(30, 45) // 100, 10 * THOUSAND)
        out.add(on, "DISTRIBUTION_MADE", amountCents=sold, companyId=self.plan.company_id)
        self._revalue(out, on, self.value - sold, MARK_TO_MODEL)

    def mark(self, out: Recorder, on: date, quarter: int) -> None:
        """The quarter-end fair-value mark, unless a round already set one this quarter."""
        if not self.entered or self.exit_month is not None or self._marked_quarter == quarter:
            return
        low, high = (-8, 1) if self.struggling else (-4, 7)
        if self.plan.star:
            low, high = 2, 10
        self._revalue(
            out,
            on,
            round_to(self.value * (100 + self._rng.randrange(low, high)) // 100, 10 * THOUSAND),
            MARK_TO_MODEL,
        )

    # -- reporting -------------------------------------------------------------------------

    def forecast(self, out: Recorder, on: date, month: int, months: int) -> None:
        """Forecasts for the quarter starting at `month`."""
        self._forecast_months(out, on, month, min(month + 3, months))

    def record_actuals(self, out: Recorder, on: date, month: int) -> None:
        """The actuals of `month` (before the exit, if any)."""
        if self.exit_month is not None and month >= self.exit_month:
            return
        forecast = self._forecast_of(month)
        bias = self._bias_pct - (25 if self.struggling else 0)
        for metric in METRICS:
            noise = self._rng.randrange(-12, 13)
            pct = {
                "revenue": 100 + bias + noise,
                "gross_profit": 100 + bias + noise,
                "opex": 100 + noise // 2,
                "cash_balance": 100 + (bias + noise) // 2,
            }[metric]
            amount = max(0, forecast[metric] * pct // 100 // DOLLAR * DOLLAR)
            self._metric(out, on, "ACTUAL_RECORDED", metric, month, amount)

    def _forecast_months(self, out: Recorder, on: date, first: int, end: int) -> None:
        for month in range(max(first, self.plan.entry_month), end):
            forecast = self._forecast_of(month)
            for metric in METRICS:
                self._metric(out, on, "FORECAST_CREATED", metric, month, forecast[metric])

    def _forecast_of(self, month: int) -> dict[str, int]:
        """The operating plan for `month` (from the first investment on), whole dollars."""
        while len(self._forecasts) <= month - self.plan.entry_month:
            if self._forecasts:
                last = self._forecasts[-1]
                revenue = last["revenue"] * (1_000 + self._growth_permille) // 1_000
                cash = last["cash_balance"]
            else:
                revenue, cash = self._revenue0, self._cash0
            gross = revenue * self._margin_pct // 100
            opex = self._opex_fixed + revenue * 35 // 100
            cash = max(0, cash - (opex - gross))
            self._forecasts.append(
                {
                    "revenue": revenue // DOLLAR * DOLLAR,
                    "gross_profit": gross // DOLLAR * DOLLAR,
                    "opex": opex // DOLLAR * DOLLAR,
                    "cash_balance": cash // DOLLAR * DOLLAR,
                }
            )
        return self._forecasts[month - self.plan.entry_month]

    # -- events ----------------------------------------------------------------------------

    def _metric(
        self, out: Recorder, on: date, event_type: str, metric: str, month: int, amount: int
    ) -> None:
        first = self._start.month - 1 + month
        period = f"{self._start.year + first // 12:04d}-{first % 12 + 1:02d}"
        out.add(
            on,
            event_type,
            companyId=self.plan.company_id,
            metric=metric,
            period=period,
            amountCents=amount,
        )

    def _reserve(self, out: Recorder, on: date, planned: int) -> None:
        self.planned = planned
        out.add(
            on, "RESERVE_ALLOCATED", companyId=self.plan.company_id, plannedReservesCents=planned
        )

    def _invest(
        self,
        out: Recorder,
        on: date,
        amount: int,
        round_name: str,
        *,
        from_reserves: bool,
        instrument: str = EQUITY,
    ) -> None:
        self.invested += amount
        data: dict[str, object] = {
            "companyId": self.plan.company_id,
            "amountCents": amount,
            "ownershipBps": self.ownership,
            "round": round_name,
            "instrument": instrument,
        }
        if instrument == EQUITY:  # shares bought at the round's price; a note has none
            data["shares"] = amount * _MICROS_PER_CENT // self.price_micros
            data["pricePerShareMicros"] = self.price_micros
        if from_reserves:
            self.deployed += amount
            data["fromReserves"] = True
        out.add(on, "INVESTMENT_MADE", **data)

    def _revalue(self, out: Recorder, on: date, value: int, method: str) -> None:
        self.value = value
        self._marked_quarter = self._month_of(on) // 3
        out.add(
            on,
            "VALUATION_UPDATED",
            companyId=self.plan.company_id,
            valuationCents=value,
            method=method,
        )

    def _month_of(self, on: date) -> int:
        return (on.year - self._start.year) * 12 + on.month - self._start.month


def _month_end(on: date) -> date:
    following = (on.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)
