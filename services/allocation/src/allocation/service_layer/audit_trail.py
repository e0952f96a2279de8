"""ListReallocationAudit: committed reallocations, newest first, paged by version."""

from __future__ import annotations

from dataclasses import dataclass

from fundledger_platform.auth.tenancy import visible

from allocation.domain.audit import AuditRecord
from allocation.service_layer.fund_views import FundViews


@dataclass(frozen=True, slots=True)
class AuditPage:
    entries: list[AuditRecord]
    # The next page holds entries below this version; None on the last page.
    next_before: int | None


async def audit_page(views: FundViews, fund_id: str, size: int, before: int | None) -> AuditPage:
    """At most `size` entries below version `before` (None: from the newest).

    Paged by version, not by offset: reallocations committed while a caller pages land above
    the first page and cannot shift or repeat entries of later pages.
    """
    view = await views.current(fund_id)  # NOT_FOUND for a fund the caller may not see
    rows = view.audits_before(before, size + 1)  # one more, to learn whether a page follows
    # The entries are the fund's, so the same tenant; filtered all the same, so no entry of
    # another tenant can ever be listed.
    rows = [row for row in rows if visible(row.tenant)]
    if len(rows) > size:
        return AuditPage(rows[:size], rows[size - 1].version)
    return AuditPage(rows, None)
