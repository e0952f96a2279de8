"""An audit entry: one committed reallocation, as its REALLOCATION_COMMITTED event recorded it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fundledger.fund.v1 import events_pb2 as ev

from allocation.domain.model import Change, Totals


@dataclass(frozen=True, slots=True)
class AuditRecord:
    # Version of the REALLOCATION_COMMITTED event itself (= new_version when written by us).
    version: int
    event_id: str
    recorded_at: datetime
    baseline_version: int
    new_version: int
    changes: tuple[Change, ...]
    totals: Totals
    reason: str
    user_id: str
    # The fund's tenant (None: none): an entry is listed only to callers who may see it.
    tenant: str | None = None
    # Both clocks of the baseline state; None for commits made before business time.
    baseline_effective_at: datetime | None = None
    baseline_recorded_at: datetime | None = None


def audit_record(
    data: ev.ReallocationCommitted,
    version: int,
    event_id: str,
    recorded_at: datetime,
    tenant: str | None = None,
) -> AuditRecord:
    """The entry for one REALLOCATION_COMMITTED payload.

    The changes are read as recorded, not recomputed from the fund: the audit trail says what
    was decided at the time, and later events must not rewrite it.
    """
    return AuditRecord(
        version=version,
        event_id=event_id,
        recorded_at=recorded_at,
        baseline_version=data.baseline_version,
        new_version=data.new_version,
        changes=tuple(Change(c.company_id, c.name, c.from_cents, c.to_cents) for c in data.changes),
        totals=Totals(data.total_before_cents, data.total_after_cents),
        reason=data.reason,
        user_id=data.user_id,
        tenant=tenant,
        baseline_effective_at=_moment(data, "baseline_effective_at"),
        baseline_recorded_at=_moment(data, "baseline_recorded_at"),
    )


def _moment(data: ev.ReallocationCommitted, field: str) -> datetime | None:
    if not data.HasField(field):  # type: ignore[arg-type]
        return None
    return getattr(data, field).ToDatetime(tzinfo=UTC)  # type: ignore[no-any-return]
