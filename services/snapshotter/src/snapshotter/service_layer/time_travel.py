"""GetFundStateAt: a fund as of a business date E, as known at a time K (or up to a version)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fundledger_kernel.fund.fold_input import FundLogError
from fundledger_platform.errors import InvalidArgument, NotFound
from fundledger_platform.reasons import Reason
from fundledger_platform.recorded import fund_log_data_loss

from snapshotter.domain.axes import Axes
from snapshotter.domain.replay import Replay
from snapshotter.metrics import EVENTS_REPLAYED
from snapshotter.service_layer.errors import fund_not_found, unfoldable
from snapshotter.service_layer.history import History
from snapshotter.service_layer.ports import Clock, EventLog


@dataclass(frozen=True)
class StateAt:
    """An answer and the two clocks it stands at."""

    replay: Replay
    effective_at: datetime
    known_at: datetime


class TimeTravel:
    def __init__(self, events: EventLog, history: History, clock: Clock) -> None:
        self._events = events
        self._history = history
        self._clock = clock

    async def at_time(
        self, fund_id: str, known_at: datetime | None, effective_at: datetime | None = None
    ) -> StateAt:
        """Every event recorded at or before K = `known_at` (None: now) and effective at or
        before E = `effective_at` (None: K); a future time gives the current state.

        The read itself tells whether any event was selected; only when none was is the event
        store asked why (no such fund, or nothing by then). A log that cannot be folded is
        DATA_LOSS.
        """
        now = self._clock.now()
        # K unset: no bound on the read at all (everything the log holds), so an event
        # committed a moment ago counts whatever this host's clock says.
        e = effective_at if effective_at is not None else known_at or now
        try:
            replay = await self._history.select(fund_id, Axes(effective_at=e, known_at=known_at))
        except FundLogError as err:
            raise fund_log_data_loss(err) from None
        k = known_at if known_at is not None else _not_before(now, replay)
        if replay.state.version == 0:
            raise await self._none_selected(fund_id, e, k)
        EVENTS_REPLAYED.observe(replay.events_replayed)
        return StateAt(replay, e, k)

    async def at_version(
        self, fund_id: str, version: int, effective_at: datetime | None = None
    ) -> StateAt:
        """The events up to `version` effective at or before `effective_at`.

        0 or less is INVALID_ARGUMENT (no fund ever has such a version); beyond the current
        version is OUT_OF_RANGE naming the current one (it may exist later). The fund's
        current version is asked for only when the log ends before `version`; a log that
        cannot be folded is DATA_LOSS. K is that version's recorded_at. Without an effective
        date every event up to the version counts (as before business time), and E is
        reported as the latest effective time among them, never before K.
        """
        check_at_version(version)
        try:
            replay = await self._history.select(
                fund_id, Axes(effective_at=effective_at, at_version=version)
            )
        except FundLogError as err:
            raise await unfoldable(self._events, fund_id, "at_version", version, err) from None
        k = replay.read_through
        if k is None:  # the log held the version, so it was read or the base held it
            raise RuntimeError(f"{fund_id} v{version}: no recorded time read")
        if effective_at is None:
            last = replay.state.last_effective_at
            effective_at = max(k, last) if last is not None else k
        elif replay.state.version == 0:
            raise await self._none_selected(fund_id, effective_at, k)
        EVENTS_REPLAYED.observe(replay.events_replayed)
        return StateAt(replay, effective_at, k)

    async def _none_selected(
        self, fund_id: str, effective_at: datetime, known_at: datetime
    ) -> NotFound:
        info = await self._events.stream_info(fund_id)
        if info is None or info.version == 0:
            return fund_not_found(fund_id)
        metadata = {
            "fund_id": fund_id,
            "effective_at": effective_at.isoformat(),
            "known_at": known_at.isoformat(),
            # The known time by its older name, for callers written before business time.
            "at_time": known_at.isoformat(),
        }
        if info.first_recorded_at is not None:
            metadata["first_event_time"] = info.first_recorded_at.isoformat()
        return NotFound(
            f"{fund_id} had no events effective at {effective_at.isoformat()} "
            f"as known at {known_at.isoformat()}",
            reason=Reason.FUND_NOT_FOUND_AT_TIME,
            metadata=metadata,
        )


def _not_before(now: datetime, replay: Replay) -> datetime:
    """The known time of an answer read without a bound: now, or the newest recorded time read
    when this host's clock is behind the event store's."""
    read = replay.read_through
    return max(now, read) if read is not None else now


def check_at_version(version: int) -> None:
    """INVALID_ARGUMENT for a version no fund ever has (0 or less)."""
    if version <= 0:
        raise InvalidArgument(
            "at_version must be at least 1 (the first event is version 1)",
            reason=Reason.VERSION_INVALID,
            field="at_version",
        )
