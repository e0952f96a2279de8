"""Exact ratios (DPI, TVPI, MOIC, variance) and their two rendered forms.

A ratio is a `fractions.Fraction` of two integer cent amounts, so it is exact however large the
amounts are; binary fractions would already misrepresent 0.1, and amounts near 2**62 cents lose
their low digits in them. It is rounded exactly once, half-even, to a whole number of basis points
(1 bp = 0.0001x); the 4-place decimal string is that same number of basis points written out, so
"0.4250" and 4250 can never disagree.

A ratio over a zero denominator (nothing called, nothing invested, a zero forecast) has no value;
the contract (state.proto) renders it as "0.0000" / 0, so `ratio` returns zero for it.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

BPS_PER_UNIT = 10_000
"""Basis points in a ratio of 1 (1.0000x)."""

_PLACES = 4  # digits after the point in the decimal string: one per power of ten in BPS_PER_UNIT


def ratio(numerator: int, denominator: int) -> Fraction:
    """numerator / denominator exactly; zero when the denominator is zero."""
    if denominator == 0:
        return Fraction(0)
    return Fraction(numerator, denominator)


def ratio_bps(value: Fraction) -> int:
    """`value` in basis points, rounded half to even (4250 for 0.425; 2 for 0.00025)."""
    # round() of a Fraction is exact and rounds ties to even.
    return round(value * BPS_PER_UNIT)


def ratio_text(value: Fraction) -> str:
    """`value` as a decimal string with exactly 4 places, rounded half to even ("0.4250").

    Built from the integer basis points, via a Decimal made from a string (which is exact: no
    context precision applies), so no digit is ever lost, even for values beyond 28 digits.
    """
    return f"{Decimal(f'{ratio_bps(value)}E-{_PLACES}'):f}"
