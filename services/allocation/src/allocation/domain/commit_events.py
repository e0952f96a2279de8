"""The events one committed reallocation appends, as event types and JSON payloads.

One RESERVE_ALLOCATED per changed company (the fold applies these), then one
REALLOCATION_COMMITTED (the audit record, which the fold does not apply: applying its deltas too
would count every reallocation twice). All of them go in ONE append at the plan's version, so the
audit record can never exist without its changes, nor the changes without their record.

Payloads are the proto3 JSON of the fund.v1 messages, written by hand rather than with
json_format.MessageToDict: that renders int64 as JSON strings and drops zero-valued fields, and
the event store's strict validation refuses both (money must be a JSON integer; required fields
must be present even when 0). The unit tests check every payload against the schema.

Deterministic on purpose: the same plan, reason and user give the same events, byte for byte.
The event store's idempotency compares a retry's payloads with the original's, so a retry of a
commit must rebuild exactly the events it sent the first time. That holds for the two clocks
too: a retry re-plans on the fund at the same baseline version, and a fold of the same events
gives the same last_effective_at and last_event_at.

Business time: REALLOCATION_COMMITTED records both clocks of its baseline (the state's latest
effective time and the recorded time of its last event, as RFC 3339 strings, the proto3 JSON of
a Timestamp). The events themselves carry no effective time: a reallocation is a decision made
now, so the event store stamps the commit time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from fundledger_kernel import canonical_json
from fundledger_kernel.fund.fold_input import LoggedEvent

from allocation.domain.model import Change, Plan

RESERVE_ALLOCATED = "RESERVE_ALLOCATED"
REALLOCATION_COMMITTED = "REALLOCATION_COMMITTED"


@dataclass(frozen=True, slots=True)
class OutgoingEvent:
    """One event to append: its type and its JSON data (ints, strings, lists, dicts only)."""

    event_type: str
    data: Mapping[str, object]

    def payload(self) -> bytes:
        """The bytes sent to the event store (canonical JSON: the same plan, the same bytes)."""
        return canonical_json(dict(self.data))


def new_version(plan: Plan) -> int:
    """The fund's version after the commit: one event per change, plus the audit record."""
    return plan.version + len(plan.changes) + 1


def reallocation_events(plan: Plan, reason: str, user_id: str) -> tuple[OutgoingEvent, ...]:
    """The events committing `plan` appends, in order. Refuses a plan with error findings."""
    if not plan.commit_allowed:
        raise ValueError("a plan with error findings cannot be committed")
    allocated = [
        OutgoingEvent(
            RESERVE_ALLOCATED,
            {"company_id": change.company_id, "planned_reserves_cents": change.to_cents},
        )
        for change in plan.changes
    ]
    audit: dict[str, object] = {
        "baseline_version": plan.version,
        "new_version": new_version(plan),
        "changes": [_change(change) for change in plan.changes],
        "reason": reason,
        "user_id": user_id,
        "total_before_cents": plan.totals.before_cents,
        "total_after_cents": plan.totals.after_cents,
    }
    if plan.baseline_effective_at is not None:
        audit["baseline_effective_at"] = rfc3339(plan.baseline_effective_at)
    if plan.baseline_recorded_at is not None:
        audit["baseline_recorded_at"] = rfc3339(plan.baseline_recorded_at)
    return (*allocated, OutgoingEvent(REALLOCATION_COMMITTED, audit))


def rfc3339(moment: datetime) -> str:
    """A Timestamp's proto3 JSON form, to the microsecond: 2025-09-30T00:00:00.000000Z.

    Always six fractional digits, so equal instants give equal bytes (idempotent retries)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _change(change: Change) -> dict[str, object]:
    return {
        "company_id": change.company_id,
        "name": change.name,
        "from_cents": change.from_cents,
        "to_cents": change.to_cents,
        "delta_cents": change.delta_cents,
    }


def as_logged(
    fund_id: str,
    events: Sequence[OutgoingEvent],
    first_version: int,
    first_position: int,
    recorded_at: datetime,
    event_ids: Sequence[str],
) -> list[LoggedEvent]:
    """Our own appended events as the log now holds them (same bytes, versions, positions, time
    and ids; one append takes consecutive positions), so the fund view can move past a commit
    without reading back what it just wrote."""
    return [
        LoggedEvent(
            stream_id=fund_id,
            version=first_version + offset,
            position=first_position + offset,
            event_id=event_id,
            event_type=event.event_type,
            data=event.payload(),
            recorded_at=recorded_at,
        )
        for offset, (event, event_id) in enumerate(zip(events, event_ids, strict=True))
    ]
