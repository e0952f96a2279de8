"""A reallocation proposal from CSV: `company_id,planned_reserves_cents` (the proto's names).

Amounts are absolute planned reserves in integer cents: `1500000` is 15,000.00. A
decimal point, a thousands separator or an empty cell is refused naming the line and
column, so a spreadsheet's formatting can never silently change an amount. Business
rules (caps, duplicates, negative amounts) are the allocation service's findings.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from fundledger_cli.errors import CliError, ExitCode

COMPANY = "company_id"
AMOUNT = "planned_reserves_cents"
_INTEGER = re.compile(r"^[+-]?[0-9]{1,19}$")
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class ProposedReserve:
    company_id: str
    planned_reserves_cents: int


def parse_proposals(text: str, name: str = "CSV") -> list[ProposedReserve]:
    """Rows of the CSV; CliError (exit 2) listing every bad cell."""
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in (reader.fieldnames or [])]
    missing = [c for c in (COMPANY, AMOUNT) if c not in columns]
    if missing:
        raise CliError(
            f"{name}: missing column(s) {', '.join(missing)}",
            ExitCode.USAGE,
            [f"the header must be: {COMPANY},{AMOUNT} (got: {','.join(columns) or 'nothing'})"],
        )
    reader.fieldnames = columns
    proposals: list[ProposedReserve] = []
    errors: list[str] = []
    for row in reader:
        line = reader.line_num
        company = (row.get(COMPANY) or "").strip()
        amount = (row.get(AMOUNT) or "").strip()
        if not company and not amount:
            continue  # blank line
        if row.get(None):  # type: ignore[call-overload]
            errors.append(
                f"line {line}: has more cells than the header (a thousands separator in {AMOUNT}?)"
            )
            continue
        if not company:
            errors.append(f"line {line}: {COMPANY}: is empty")
            continue
        if not _INTEGER.match(amount) or abs(int(amount)) > _INT64_MAX:
            errors.append(
                f"line {line}: {AMOUNT}: must be an integer number of cents, got {amount!r}"
            )
            continue
        proposals.append(ProposedReserve(company, int(amount)))
    if errors:
        raise CliError(
            f"{name}: {len(errors)} invalid row(s); nothing sent", ExitCode.USAGE, errors
        )
    return proposals
