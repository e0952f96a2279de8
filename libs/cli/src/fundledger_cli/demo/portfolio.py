"""The demo fund's terms and its ~20 portfolio companies, drawn from a seeded random.Random.

Pure: no I/O, no clock. Every amount is integer cents; percentages are integer percent or basis
points, so the same seed gives the same fund on every machine.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

DOLLAR = 100
"""Cents in a dollar."""
THOUSAND = 1_000 * DOLLAR
MILLION = 1_000_000 * DOLLAR

# Fictional names and sectors; 24 candidates, 20 are drawn.
_CANDIDATES: tuple[tuple[str, str], ...] = (
    ("Lumen Robotics", "Robotics"),
    ("Quillwork Health", "Digital health"),
    ("Tessera Bio", "Biotech"),
    ("Northstar Freight", "Logistics"),
    ("Kiln Energy", "Climate"),
    ("Parallax Security", "Cybersecurity"),
    ("Verdant Foods", "Food tech"),
    ("Cobalt Payments", "Fintech"),
    ("Atlas Ledger", "Fintech"),
    ("Brightwater AI", "AI infrastructure"),
    ("Harborline", "Logistics"),
    ("Mosaic Learning", "Edtech"),
    ("Orbital Data", "Space"),
    ("Fernhill Labs", "Developer tools"),
    ("Copperleaf Insurance", "Insurtech"),
    ("Sable Systems", "Developer tools"),
    ("Tidepool Water", "Climate"),
    ("Junction Retail", "Commerce"),
    ("Halcyon Sleep", "Consumer health"),
    ("Meridian Grid", "Climate"),
    ("Pennant Legal", "Legal tech"),
    ("Wayfinder Maps", "Geospatial"),
    ("Auric Materials", "Advanced materials"),
    ("Solace Care", "Digital health"),
)

COMPANY_COUNT = 20
# New investments are made in the first 17 months; the rest of the two years is follow-ons.
INVESTMENT_PERIOD_MONTHS = 17


@dataclass(frozen=True, slots=True)
class FundTerms:
    name: str
    currency: str
    committed_cents: int
    start: date
    months: int

    @property
    def vintage_year(self) -> int:
        return self.start.year


@dataclass(frozen=True, slots=True)
class CompanyPlan:
    """What is known about a company when the fund first invests in it."""

    company_id: str
    name: str
    sector: str
    # "Seed" or "Series A": the round of the first check.
    stage: str
    # Month of the first investment, counted from the fund's start (0-based).
    entry_month: int
    # Day of the month the company is added to the fund; the check closes a few days later.
    entry_day: int
    close_days: int
    check_cents: int
    ownership_bps: int
    # Most the fund may hold in planned reserves for the company (allocation cap).
    cap_cents: int
    # Planned reserves set at the first investment.
    reserves_cents: int
    # The breakout company: strong up-rounds and a large cap, so reserves can follow it.
    star: bool = False


def company_id_of(name: str) -> str:
    """ "Lumen Robotics" -> "lumen-robotics"."""
    return "-".join(name.lower().split())


def round_to(amount: int, unit: int) -> int:
    """`amount` rounded to the nearest multiple of `unit` (both cents), at least one unit."""
    return max(unit, (amount + unit // 2) // unit * unit)


def draw_companies(rng: random.Random, terms: FundTerms) -> list[CompanyPlan]:
    """20 companies in order of first investment; the third one is the star."""
    chosen = rng.sample(_CANDIDATES, COMPANY_COUNT)
    months = sorted(rng.randrange(INVESTMENT_PERIOD_MONTHS) for _ in range(COMPANY_COUNT))
    plans = []
    for index, ((name, sector), month) in enumerate(zip(chosen, months, strict=True)):
        star = index == 2
        seed = star or rng.random() < 0.6
        if seed:
            check = round_to(rng.randrange(1_000 * THOUSAND, 2_500 * THOUSAND), 50 * THOUSAND)
            ownership = rng.randrange(1_000, 1_500)
        else:
            check = round_to(rng.randrange(3_000 * THOUSAND, 5_000 * THOUSAND), 100 * THOUSAND)
            ownership = rng.randrange(800, 1_200)
        if star:
            # A breakout can take a fifth of the fund in reserves.
            cap = terms.committed_cents // 5
        else:
            cap = round_to(check * rng.randrange(200, 300) // 100, 100 * THOUSAND)
        reserves = min(cap, round_to(check * rng.randrange(80, 120) // 100, 50 * THOUSAND))
        plans.append(
            CompanyPlan(
                company_id=company_id_of(name),
                name=name,
                sector=sector,
                stage="Seed" if seed else "Series A",
                entry_month=month,
                entry_day=rng.randrange(1, 15),
                close_days=rng.randrange(3, 12),
                check_cents=check,
                ownership_bps=ownership,
                cap_cents=cap,
                reserves_cents=reserves,
                star=star,
            )
        )
    return plans
