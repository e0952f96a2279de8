"""The warning thresholds, and the one exact comparison they use."""

from __future__ import annotations

from dataclasses import dataclass

from fundledger_kernel.fund import BPS_PER_UNIT


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Warning thresholds in basis points (1 bp = 0.01 %), from the settings."""

    # One company's share of total planned reserves after the change.
    concentration_bps: int = 3000
    # Total planned reserves after the change, as a share of the fund size.
    fund_share_bps: int = 5000


def exceeds_share(part: int, whole: int, bps: int) -> bool:
    """part > bps/10000 of whole, strictly, compared in integers.

    Cross-multiplied instead of divided, so exactly at the threshold is never "above" through a
    rounding error: 30 % of 10 is 3, and 3 is not above it.
    """
    return part * BPS_PER_UNIT > whole * bps
