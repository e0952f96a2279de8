"""Taking a snapshot: the state exactly at a version, written once per (fund, version, fold)."""

from __future__ import annotations

import time
import uuid

from fundledger_kernel.fund import FOLD_VERSION, state_to_json
from fundledger_kernel.fund.fold_input import FundLogError
from fundledger_platform.errors import InvalidArgument
from fundledger_platform.reasons import Reason
from fundledger_platform.recorded import fund_log_data_loss

from snapshotter.domain.axes import Axes
from snapshotter.domain.model import Snapshot, Trigger
from snapshotter.metrics import SNAPSHOT_SECONDS, SNAPSHOTS_CREATED
from snapshotter.service_layer.errors import fund_not_found, unfoldable
from snapshotter.service_layer.history import History
from snapshotter.service_layer.ports import EventLog, SnapshotStore


class SnapshotMaker:
    def __init__(self, snapshots: SnapshotStore, history: History) -> None:
        self._snapshots = snapshots
        self._history = history

    async def ensure(self, fund_id: str, version: int, trigger: Trigger) -> tuple[Snapshot, bool]:
        """The snapshot of `fund_id` at `version` for this fold: the existing one, or a new one.

        Idempotent by the unique key (fund, version, fold version): callers
        racing for the same version (a redelivered event, the catch-up, another
        replica, a manual call) all get the one row that won; the losers'
        computations are simply dropped. The first trigger to get there names
        the snapshot. A log that cannot be folded raises the kernel's FundLogError:
        each caller decides what that means for it (DATA_LOSS, a halted fund, a log line).
        """
        started = time.perf_counter()
        # One read answers both "is there one already?" and "what to fold from": the newest
        # snapshot at or below `version` is the base, and is the answer when it is at it.
        replay = await self._history.select(fund_id, Axes(at_version=version))
        if replay.base is not None and replay.base.version == version:
            return replay.base, False
        state = replay.state
        # No bound on business time: the state is the complete prefix up to `version`, the
        # only kind that may be stored (domain/axes.py).
        if state.last_event_at is None or state.last_effective_at is None:
            # only the empty state has no time, and version >= 1 here
            raise RuntimeError(f"{fund_id} v{version}: folded state has no event time")
        snapshot = Snapshot(
            snapshot_id=uuid.uuid4(),
            fund_id=fund_id,
            version=version,
            position=replay.position,
            event_time=state.last_event_at,
            fold_version=FOLD_VERSION,
            trigger=trigger,
            events_since_previous=replay.events_replayed,
            tenant=replay.tenant,
            effective_through=state.last_effective_at,
            chain_hash=replay.chain_hash,
        )
        saved, created = await self._snapshots.save(snapshot, state_to_json(replay.state))
        if created:
            SNAPSHOTS_CREATED.labels(trigger.value).inc()
            SNAPSHOT_SECONDS.observe(time.perf_counter() - started)
        return saved, created


async def create_manual(
    events: EventLog, maker: SnapshotMaker, fund_id: str, at_version: int | None
) -> Snapshot:
    """CreateSnapshot: at the fund's latest version, or at `at_version`.

    With `at_version` the fold itself finds out whether that version exists;
    the event store is asked for the fund's current version only when it
    does not (or when none was given). A log that cannot be folded is DATA_LOSS.
    """
    if at_version is not None and at_version > 0:
        try:
            snapshot, _ = await maker.ensure(fund_id, at_version, Trigger.MANUAL)
        except FundLogError as err:
            raise await unfoldable(events, fund_id, "at_version", at_version, err) from None
        return snapshot
    info = await events.stream_info(fund_id)
    if info is None or info.version == 0:
        raise fund_not_found(fund_id)
    if at_version is not None:  # <= 0
        raise InvalidArgument(
            "at_version must be at least 1", reason=Reason.VERSION_INVALID, field="at_version"
        )
    try:
        snapshot, _ = await maker.ensure(fund_id, info.version, Trigger.MANUAL)
    except FundLogError as err:
        raise fund_log_data_loss(err) from None
    return snapshot
