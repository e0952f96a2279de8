"""A restatement: one business date as known at two times, and the figures that differ. Pure.

Figures are compared in their wire form (fundledger.fund.v1.FundState / CompanyState, as the
kernel's one mapper renders them), so every integer figure a caller sees is compared — the
stored ones and the derived ones (uncalled, total value, DPI/TVPI/MOIC in basis points) — under
the name the caller knows it by, and a figure added to the messages later is compared without
a change here. Bookkeeping (version, skipped_events, fold_version) is not a figure; text and
enum fields (names, instrument, valuation method) are shown by the two states themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fundledger.fund.v1 import state_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

_INTEGERS = frozenset(
    {
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_SINT32,
    }
)
_NOT_FIGURES = frozenset({"version", "skipped_events", "fold_version"})


@dataclass(frozen=True)
class FigureChange:
    figure: str
    before: int
    after: int

    @property
    def delta(self) -> int:
        return self.after - self.before


@dataclass(frozen=True)
class CompanyChanges:
    company_id: str
    # From the later state, else the earlier.
    name: str
    changes: list[FigureChange]


@dataclass(frozen=True)
class Differences:
    fund: list[FigureChange]
    # Only companies with a differing figure, by company id.
    companies: list[CompanyChanges]


def figures(message: Message) -> dict[str, int]:
    """The integer figures of a state message (singular integer fields), by field name."""
    return {
        field.name: int(getattr(message, field.name))
        for field in message.DESCRIPTOR.fields
        if field.type in _INTEGERS and not field.is_repeated and field.name not in _NOT_FIGURES
    }


def figure_changes(before: Mapping[str, int], after: Mapping[str, int]) -> list[FigureChange]:
    """The figures that differ, in the message's field order (a figure missing on one side
    reads as 0)."""
    names = list(dict.fromkeys([*before, *after]))
    return [
        FigureChange(name, before.get(name, 0), after.get(name, 0))
        for name in names
        if before.get(name, 0) != after.get(name, 0)
    ]


def differences(before: state_pb2.FundState, after: state_pb2.FundState) -> Differences:
    """Fund figures and per-company figures that differ between two states of one fund.

    A company known to only one of them (added by a late event, say) is compared with a company
    of all zeros: each of its figures shows as a change from or to 0.
    """
    empty = state_pb2.CompanyState()
    earlier = {c.company_id: c for c in before.companies}
    later = {c.company_id: c for c in after.companies}
    companies = []
    for company_id in sorted(earlier.keys() | later.keys()):
        old, new = earlier.get(company_id, empty), later.get(company_id, empty)
        changes = figure_changes(figures(old), figures(new))
        if changes:
            companies.append(CompanyChanges(company_id, new.name or old.name, changes))
    return Differences(figure_changes(figures(before), figures(after)), companies)
