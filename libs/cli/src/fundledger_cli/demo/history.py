"""A realistic, deterministic two-year history of one venture fund: `generate_history(seed)`.

Pure: a seeded random.Random, no I/O, no clock. The result is a list of fund events (type and
proto3 JSON payload in its newest schema version, money in integer cents) in business-date
order, each with the date it happened on.

That date is the event's business time: the runner appends every event with `effective_at` =
the start of that day (UTC), so a quarter-end mark is effective on the quarter's last day, and
the server records it now, long after (the history runs from 2024 to the end of 2025). Time
travel by business date ("the fund on 30 September 2025") therefore works however late the
history was recorded. The history is appended one quarter at a time, in business-date order.

The story, month by month: ~20 companies get a first check (Seed or Series A) during the first
17 months, with an allocation cap and planned reserves; follow-on rounds come 9-13 months later
(mostly up-rounds, some flat or down, paid from reserves); a few companies get an insider bridge
and two of those are later written down (their unused reserves released); one company breaks out
(two big up-rounds, reserves raised), one is acquired and one sells part of its stake in a
secondary. Every quarter: a capital call covering the quarter's checks plus the management fee,
forecasts for the quarter's months and valuation marks at quarter end; every month: the actuals
of the month before (revenue, gross profit, opex, cash balance).
"""

from __future__ import annotations

import calendar
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial

from fundledger_kernel.fund_schemas import newest_schema_version

from fundledger_cli.demo.portfolio import (
    MILLION,
    THOUSAND,
    CompanyPlan,
    FundTerms,
    draw_companies,
    round_to,
)
from fundledger_cli.demo.simulation import CompanySim

DEFAULT_SEED = 2024
DEFAULT_TERMS = FundTerms(
    name="Harbor Light Ventures II",
    currency="USD",
    committed_cents=150 * MILLION,
    start=date(2024, 1, 1),
    months=24,
)
# Management fee called every quarter, in basis points of committed capital (2 % a year).
QUARTERLY_FEE_BPS = 50

# Order of events on the same day: the call before the checks it pays for, a company before
# anything about it, its reserves before a check drawn from them.
_PRIORITY: Mapping[str, int] = {
    "FUND_CREATED": 0,
    "CAPITAL_CALLED": 1,
    "COMPANY_ADDED": 2,
    "RESERVE_ALLOCATED": 3,
    "INVESTMENT_MADE": 4,
    "VALUATION_UPDATED": 5,
    "DISTRIBUTION_MADE": 6,
    "FORECAST_CREATED": 7,
    "ACTUAL_RECORDED": 8,
}


@dataclass(frozen=True, slots=True)
class DemoEvent:
    """One fund event of the history: when it happened, its type and its JSON payload."""

    occurred_on: date
    event_type: str
    data: Mapping[str, object]

    @property
    def effective_at(self) -> datetime:
        """Business time: the start of the day it happened on, UTC."""
        return datetime.combine(self.occurred_on, time(0, tzinfo=UTC))

    @property
    def schema_version(self) -> int:
        """The generator writes every payload in its type's newest shape."""
        return newest_schema_version(self.event_type)


@dataclass(frozen=True, slots=True)
class FundHistory:
    terms: FundTerms
    companies: tuple[CompanyPlan, ...]
    events: tuple[DemoEvent, ...]

    @property
    def end(self) -> date:
        """The last day of the history."""
        return month_end(self.terms.start, self.terms.months - 1)

    @property
    def year_one_end(self) -> date:
        """The last day of the fund's first year: the demo's "state in the past"."""
        return month_end(self.terms.start, 11)


def month_start(start: date, month: int) -> date:
    total = start.month - 1 + month
    return date(start.year + total // 12, total % 12 + 1, 1)


def month_end(start: date, month: int) -> date:
    first = month_start(start, month)
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def period_of(start: date, month: int) -> str:
    """ "2024-03": the forecast / actual period of a month."""
    return month_start(start, month).strftime("%Y-%m")


@dataclass
class _Recorder:
    """Collects events with their sort key; `events()` orders them by date, then priority."""

    _rows: list[tuple[date, int, int, DemoEvent]] = field(default_factory=list)

    def add(self, on: date, event_type: str, **data: object) -> None:
        event = DemoEvent(on, event_type, data)
        self._rows.append((on, _PRIORITY[event_type], len(self._rows), event))

    def events(self) -> tuple[DemoEvent, ...]:
        return tuple(row[3] for row in sorted(self._rows, key=lambda row: row[:3]))


Action = Callable[[date], None]


def generate_history(seed: int = DEFAULT_SEED, terms: FundTerms = DEFAULT_TERMS) -> FundHistory:
    """The fund's events over `terms.months` months; the same seed gives the same history."""
    rng = random.Random(seed)
    plans = draw_companies(rng, terms)
    out = _Recorder()
    out.add(
        terms.start,
        "FUND_CREATED",
        name=terms.name,
        committedCapitalCents=terms.committed_cents,
        currency=terms.currency,
        vintageYear=terms.vintage_year,
    )
    sims = [CompanySim(plan, terms.start, rng) for plan in plans]
    schedule = _schedule(rng, sims, terms.months, out)
    for month in range(terms.months):
        first = month_start(terms.start, month)
        for sim in sims:
            if sim.plan.entry_month == month:
                sim.enter(out, first.replace(day=sim.plan.entry_day))
        for day, action in sorted(schedule.get(month, []), key=lambda item: item[0]):
            action(first.replace(day=day))
        if month % 3 == 0:  # forecasts for the quarter's months, on its second day
            for sim in sims:
                if sim.active_before(month):
                    sim.forecast(out, first + timedelta(days=1), month, terms.months)
        if month > 0:  # last month's actuals, on the 10th
            for sim in sims:
                if sim.active_before(month - 1) or sim.plan.entry_month == month - 1:
                    sim.record_actuals(out, first.replace(day=10), month - 1)
        if month % 3 == 2:  # quarter-end marks
            for sim in sims:
                sim.mark(out, month_end(terms.start, month), month // 3)
    _capital_calls(out, terms)
    return FundHistory(terms, tuple(plans), out.events())


def _schedule(
    rng: random.Random, sims: list[CompanySim], months: int, out: _Recorder
) -> dict[int, list[tuple[int, Action]]]:
    """Month -> (day, action) for the rounds, bridges, write-downs and exits of the story."""
    schedule: dict[int, list[tuple[int, Action]]] = {}

    def at(month: int, action: Action) -> None:
        schedule.setdefault(month, []).append((rng.randrange(5, 26), action))

    def priced(sim: CompanySim, kind: str, multiple_pct: int) -> Action:
        return partial(sim.round, out, kind=kind, multiple_pct=multiple_pct)

    star = next(sim for sim in sims if sim.plan.star)
    at(star.plan.entry_month + 7, priced(star, "up", 300))
    if star.plan.entry_month + 16 < months:
        at(star.plan.entry_month + 16, priced(star, "up", 220))

    others = [sim for sim in sims if not sim.plan.star]
    early = [sim for sim in others if sim.plan.entry_month <= 10]
    # Two early companies struggle: an insider bridge, then a write-down.
    strugglers = rng.sample(early, 2)
    for sim in strugglers:
        sim.struggling = True
        entry = sim.plan.entry_month
        at(entry + rng.randrange(4, 7), partial(sim.bridge, out))
        at(entry + rng.randrange(9, 12), partial(sim.write_down, out))

    risers: list[tuple[CompanySim, int]] = []
    for sim in others:
        if sim.struggling:
            continue
        round_month = sim.plan.entry_month + rng.randrange(9, 14)
        if round_month < months - 1 and rng.random() < 0.8:
            roll = rng.random()
            kind = "up" if roll < 0.65 else "flat" if roll < 0.8 else "down"
            multiple = {"up": rng.randrange(140, 240), "flat": 100}.get(kind, rng.randrange(60, 85))
            at(round_month, priced(sim, kind, multiple))
            if kind == "up":
                risers.append((sim, round_month))
        elif sim.plan.entry_month + 6 < months and rng.random() < 0.5:
            at(sim.plan.entry_month + rng.randrange(5, 7), partial(sim.bridge, out))

    # One riser is acquired, another sells part of its stake in a secondary.
    risers.sort(key=lambda item: item[1])
    if risers:
        sim, round_month = risers[0]
        exit_month = min(months - 1, max(round_month + 3, months - 6))
        at(exit_month, partial(sim.acquired, out))
    if len(risers) > 1:
        sim, round_month = risers[1]
        at(min(months - 1, round_month + 2), partial(sim.secondary, out))
    return schedule


def _capital_calls(out: _Recorder, terms: FundTerms) -> None:
    """One call per quarter, on its first day: the quarter's checks plus the fee.

    Called from the events already recorded, so capital is always called before it is invested
    (invested <= called at every point of the history) and never beyond the fund size.
    """
    needs = [0] * ((terms.months + 2) // 3)
    for on, _, _, event in out._rows:
        if event.event_type == "INVESTMENT_MADE":
            amount = event.data["amountCents"]
            if not isinstance(amount, int):  # the generator's own payloads: cannot happen
                raise TypeError(f"amountCents must be int cents, got {amount!r}")
            months = (on.year - terms.start.year) * 12 + on.month - terms.start.month
            needs[months // 3] += amount
    fee = terms.committed_cents * QUARTERLY_FEE_BPS // 10_000
    called = 0
    for quarter, need in enumerate(needs):
        amount = min(terms.committed_cents - called, round_to(need + fee, 100 * THOUSAND))
        if amount <= 0:
            break
        called += amount
        out.add(
            month_start(terms.start, quarter * 3),
            "CAPITAL_CALLED",
            amountCents=amount,
            callNumber=quarter + 1,
        )


@dataclass(frozen=True, slots=True)
class Batch:
    """One append: events of one quarter (or part of one, when the quarter is large)."""

    label: str
    events: tuple[DemoEvent, ...]


def quarter_batches(history: FundHistory, max_events: int = 400) -> list[Batch]:
    """The history cut into appends: by business quarter, at most `max_events` each.

    Cutting by quarter keeps each append inside one quarter and the log in business-date order
    (versions follow effective times), as a fund administrator books a quarter after closing it.
    Time travel does not depend on it: it selects by effective_at.
    """
    if max_events < 1:
        raise ValueError("max_events must be at least 1")
    quarters: dict[str, list[DemoEvent]] = {}
    for event in history.events:
        label = f"{event.occurred_on.year}-Q{(event.occurred_on.month - 1) // 3 + 1}"
        quarters.setdefault(label, []).append(event)
    batches = []
    for label, events in quarters.items():
        parts = [events[i : i + max_events] for i in range(0, len(events), max_events)]
        for number, part in enumerate(parts, start=1):
            suffix = f" ({number}/{len(parts)})" if len(parts) > 1 else ""
            batches.append(Batch(label + suffix, tuple(part)))
    return batches
