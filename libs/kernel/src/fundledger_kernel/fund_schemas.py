"""The fund event types' schema history: the upcasters from each old version to the newest.

    INVESTMENT_MADE    v1 -> v2: instrument, shares, price_per_share_micros (v1 = EQUITY, no shares)
    VALUATION_UPDATED  v1 -> v2: method (v1 = UNSPECIFIED: not recorded)

Adding a version: change the message in events.proto compatibly (new fields only), add a step
here, and bump FOLD_VERSION if the fold reads the new fields (docs/architecture.md, "Schema
evolution").
"""

from __future__ import annotations

from collections.abc import Mapping

from fundledger_kernel.upcasting import Step, UpcasterRegistry


def _keys(*names: str) -> frozenset[str]:
    """The proto names and their camelCase JSON names (proto3 JSON accepts both)."""
    camel = ("".join([n.split("_")[0], *(w.capitalize() for w in n.split("_")[1:])]) for n in names)
    return frozenset(names) | frozenset(camel)


def _investment_v1_to_v2(data: Mapping[str, object]) -> dict[str, object]:
    # Every investment before instruments were recorded was a priced equity round.
    return {**data, "instrument": "INSTRUMENT_EQUITY"}


def _valuation_v1_to_v2(data: Mapping[str, object]) -> dict[str, object]:
    # The method was not recorded; saying LAST_ROUND (or anything) would invent a fact.
    return {**data, "method": "VALUATION_METHOD_UNSPECIFIED"}


FUND_UPCASTERS = UpcasterRegistry(
    [
        Step(
            "INVESTMENT_MADE",
            1,
            _keys("instrument", "shares", "price_per_share_micros"),
            _investment_v1_to_v2,
        ),
        Step("VALUATION_UPDATED", 1, _keys("method"), _valuation_v1_to_v2),
    ]
)


def newest_schema_version(event_type: str) -> int:
    """The newest schema version of a fund event type (1 for one that never changed)."""
    return FUND_UPCASTERS.newest_version(event_type)


def upcast(
    event_type: str, schema_version: int, data: Mapping[str, object]
) -> Mapping[str, object]:
    """A fund event's payload in its type's newest shape (see UpcasterRegistry.upcast)."""
    return FUND_UPCASTERS.upcast(event_type, schema_version, data)
