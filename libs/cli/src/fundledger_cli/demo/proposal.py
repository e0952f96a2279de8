"""The demo's reserve reallocation: double down on the winners. Pure.

The allocation service warns (and still allows the commit) when one company would hold more than
30 % of all planned reserves, or when the total would exceed 50 % of the fund size; it refuses a
proposal above a company's allocation cap, a negative amount or an unknown company. The demo wants
the warnings and no error, so it raises the best performer's reserves to its cap and then other
winners towards theirs until the total is 5 points past the fund-share threshold. Every amount
stays within its cap, so nothing blocks the commit. The thresholds mirror the allocation service's
defaults (FUNDLEDGER_ALLOCATION_CONCENTRATION_BPS / _FUND_SHARE_BPS).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from fundledger.fund.v1 import state_pb2
from fundledger_kernel.fund import FundState

from fundledger_cli.demo.portfolio import THOUSAND

CONCENTRATION_BPS = 3_000
FUND_SHARE_BPS = 5_000
# How far past the fund-share threshold the proposal aims, in basis points of the fund size.
_OVERSHOOT_BPS = 500
_STEP = 50 * THOUSAND


@dataclass(frozen=True, slots=True)
class ReserveLine:
    """What the proposal looks at for one company."""

    company_id: str
    name: str
    invested: int
    valuation: int
    distributed: int
    cap: int
    planned: int

    @property
    def multiple(self) -> Fraction:
        """(valuation + distributed) / invested; zero when nothing was invested."""
        if self.invested <= 0:
            return Fraction(0)
        return Fraction(self.valuation + self.distributed, self.invested)


def lines_from_proto(state: state_pb2.FundState) -> list[ReserveLine]:
    return [
        ReserveLine(
            c.company_id,
            c.name,
            c.invested_cents,
            c.valuation_cents,
            c.distributed_cents,
            c.allocation_cap_cents,
            c.planned_reserves_cents,
        )
        for c in state.companies
    ]


def lines_from_kernel(state: FundState) -> list[ReserveLine]:
    return [
        ReserveLine(
            c.company_id,
            c.name,
            c.invested,
            c.valuation,
            c.distributed,
            c.allocation_cap,
            c.planned_reserves,
        )
        for c in state.sorted_companies()
    ]


@dataclass(frozen=True, slots=True)
class Reallocation:
    # (company id, new planned reserves in cents), changed companies only, in proposal order.
    proposals: tuple[tuple[str, int], ...]
    reason: str


def propose(lines: Iterable[ReserveLine], fund_size: int) -> Reallocation:
    """Raise the best performer to its cap, then other winners until past the fund share."""
    lines = list(lines)
    # Still held (not exited), room under a cap, and worth more than it cost.
    winners = sorted(
        (line for line in lines if line.valuation > 0 and 0 < line.planned < line.cap),
        key=lambda line: (-line.multiple, line.company_id),
    )
    winners = [line for line in winners if line.multiple > 1]
    if not winners:
        return Reallocation((), "no company has room under its cap")
    best, rest = winners[0], winners[1:]
    after = {line.company_id: line.planned for line in lines}
    after[best.company_id] = best.cap
    proposals = [(best.company_id, best.cap)]
    target = fund_size * (FUND_SHARE_BPS + _OVERSHOOT_BPS) // 10_000
    for line in rest:
        missing = target - sum(after.values())
        if missing <= 0:
            break
        raised = min(line.cap, line.planned + -(-missing // _STEP) * _STEP)
        # Stop before the best performer's share would fall to the concentration threshold.
        total = sum(after.values()) + raised - line.planned
        if best.cap * 10_000 <= total * CONCENTRATION_BPS:
            break
        after[line.company_id] = raised
        proposals.append((line.company_id, raised))
    others = len(proposals) - 1
    reason = f"Double down on {best.name} (MOIC {float(best.multiple):.2f}x)" + (
        f" and {others} other winner{'s' if others > 1 else ''}" if others else ""
    )
    return Reallocation(tuple(proposals), reason)
