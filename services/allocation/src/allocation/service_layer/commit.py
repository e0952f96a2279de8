"""CommitReallocation: re-validate at the current version, then one atomic append.

Why re-validate: a preview is only advice. Between it and the commit, anyone may have appended to
the fund (another reallocation, an investment, a new cap), so the rules run again on the state the
commit will actually be applied to.

Why that is still not enough, and what makes it safe (FM-16): two commits validated against
the same version can both pass here. The append therefore carries expected_version = the version
the plan was computed at; the event store moves the stream head only if it is still there, inside
the transaction that inserts the events. Of two commits racing from the same version exactly one
is written; the other gets ABORTED with the current version and wrote nothing. No lock in this
process could give that guarantee across replicas; the stream head does.

The same guarantee lets a commit skip reading the log when the cached view is exactly at the
request's expected_version (the usual preview-then-commit): the fund at version v never changes,
and the append only lands if v is still current — so the plan was checked against the current
state after all. Otherwise (cache behind, or the caller is stale) the log is read first, to
validate at, and report, the actual current version. After a write, the view is moved past our
own events without reading them back, so chained commits cost one call to the store.

Idempotent retries: a retry of a commit that succeeded (its response was lost) arrives when the
fund is already past the commit's baseline, so the re-validation sees a version conflict. With an
idempotency key, the plan is rebuilt at the baseline version instead (the same events, byte for
byte) and sent to the event store, which answers with the original result (replayed) if that key
wrote exactly this, and with ABORTED if it did not — the store, not this service, decides.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from fundledger_kernel.fund.fold_input import LoggedEvent

from allocation.domain.commit_events import as_logged, new_version, reallocation_events
from allocation.domain.fund_view import FundView
from allocation.domain.model import Plan, Proposal
from allocation.domain.plan import plan_reallocation
from allocation.domain.thresholds import Thresholds
from allocation.metrics import COMMITS, CONFLICTS
from allocation.service_layer.errors import blocked, conflict_on_append
from allocation.service_layer.fund_views import FundViews
from allocation.service_layer.ports import EventLog, StreamVersionConflict
from allocation.service_layer.preview import count_findings

log = logging.getLogger(__name__)

# Correlation ids of keyed commits are derived from (fund, key), so a retry sends the same id and
# the event store's request hash, which covers it, matches the original's.
_CORRELATION_NAMESPACE = uuid.UUID("5b0f6a0e-3c1d-4a8e-9f57-2f1f0b6a7c11")


@dataclass(frozen=True, slots=True)
class CommitCommand:
    fund_id: str
    proposal: Proposal
    reason: str
    user_id: str
    # "" = no key: a retry is then a new commit (and fails on the version if the first landed).
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class Committed:
    plan: Plan
    new_version: int
    replayed: bool
    # The events this call wrote, as the log holds them; empty for a replay.
    written: tuple[LoggedEvent, ...] = ()


async def commit(
    views: FundViews, events: EventLog, thresholds: Thresholds, command: CommitCommand
) -> Committed:
    cached = views.cached_at(command.fund_id, command.proposal.expected_version)
    if cached is not None:
        plan = plan_reallocation(cached.state, command.proposal, thresholds)
        if plan.commit_allowed:
            count_findings("commit", plan.findings)
            return await _write(views, events, command, cached, plan)
        # Findings must be reported at the version that is current now, not at a cached one
        # that may be stale: fall through and read the log.
    view = await views.current(command.fund_id)
    plan = plan_reallocation(view.state, command.proposal, thresholds)
    count_findings("commit", plan.findings)
    if plan.commit_allowed:
        return await _write(views, events, command, view, plan)
    retry = await _plan_of_retry(views, thresholds, command, plan)
    if retry is not None:
        return await _append(events, command, retry)
    if plan.version_conflict:
        CONFLICTS.labels("validation").inc()
        COMMITS.labels("conflict").inc()
    else:
        COMMITS.labels("blocked").inc()
    raise blocked(plan)


async def _write(
    views: FundViews, events: EventLog, command: CommitCommand, view: FundView, plan: Plan
) -> Committed:
    result = await _append(events, command, plan)
    if result.written:  # empty for a replay: nothing new to fold; the cached view stays valid
        views.advance_with(view, result.written)
    return result


async def _plan_of_retry(
    views: FundViews, thresholds: Thresholds, command: CommitCommand, plan: Plan
) -> Plan | None:
    """The plan at the baseline version when this may be a keyed retry of a landed commit."""
    expected = command.proposal.expected_version
    if not (command.idempotency_key and plan.version_conflict and 0 < expected < plan.version):
        return None
    baseline = await views.at_version(command.fund_id, expected)
    retry = plan_reallocation(baseline.state, command.proposal, thresholds)
    # A proposal that had errors at its baseline was never written: nothing to replay.
    return retry if retry.commit_allowed else None


async def _append(events: EventLog, command: CommitCommand, plan: Plan) -> Committed:
    batch = reallocation_events(plan, command.reason, command.user_id)
    try:
        appended = await events.append(
            command.fund_id,
            plan.version,
            batch,
            idempotency_key=command.idempotency_key,
            user_id=command.user_id,
            correlation_id=_correlation_id(command),
        )
    except StreamVersionConflict as conflict:
        CONFLICTS.labels("append").inc()
        COMMITS.labels("conflict").inc()
        raise conflict_on_append(command.fund_id, plan.version, conflict.actual_version) from None
    if appended.last_version != new_version(plan):
        # Cannot happen while the store honours expected_version; logged, not hidden.
        log.error(
            "%s: append ended at version %d, the plan expected %d",
            command.fund_id,
            appended.last_version,
            new_version(plan),
        )
    if appended.replayed:
        COMMITS.labels("replayed").inc()
        return Committed(plan, appended.last_version, replayed=True)
    COMMITS.labels("committed").inc()
    try:
        written = tuple(
            as_logged(
                command.fund_id,
                batch,
                appended.first_version,
                appended.first_position,
                appended.recorded_at,
                appended.event_ids,
            )
        )
    except ValueError:
        # The store answered with another number of event ids than we sent events. This only
        # feeds the cache shortcut; the commit itself has landed and must be reported so.
        log.exception("%s: could not list our own append; the log will be read", command.fund_id)
        written = ()
    return Committed(plan, appended.last_version, replayed=False, written=written)


def _correlation_id(command: CommitCommand) -> str:
    if command.idempotency_key:
        return str(
            uuid.uuid5(_CORRELATION_NAMESPACE, f"{command.fund_id}\n{command.idempotency_key}")
        )
    return str(uuid.uuid4())
