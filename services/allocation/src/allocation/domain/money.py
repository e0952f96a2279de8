"""Amounts and shares as people read them, computed from integers only.

Messages show money as `1,500,000.00` and shares as `30.00 %`. Both come from integer cents and
exact Fractions: a binary float would already misprint some cent amounts, and a message that
disagrees with the numbers beside it is worse than none.
"""

from __future__ import annotations

from fundledger_kernel.fund import ratio, ratio_bps

CENTS_PER_UNIT = 100


def format_cents(cents: int) -> str:
    """`150000000` -> `1,500,000.00`; `-5` -> `-0.05`."""
    sign = "-" if cents < 0 else ""
    units, rest = divmod(abs(cents), CENTS_PER_UNIT)
    return f"{sign}{units:,}.{rest:02d}"


def format_bps(bps: int) -> str:
    """Basis points as a percentage with two places: `3000` -> `30.00 %`."""
    sign = "-" if bps < 0 else ""
    whole, hundredths = divmod(abs(bps), 100)
    return f"{sign}{whole}.{hundredths:02d} %"


def share_text(part: int, whole: int) -> str:
    """part / whole as a percentage, rounded half-even to 0.01 % (`0.00 %` when whole is 0)."""
    return format_bps(ratio_bps(ratio(part, whole)))
