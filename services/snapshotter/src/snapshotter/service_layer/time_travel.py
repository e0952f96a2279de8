"""GetFundStateAt: a fund's state at a past time or version."""

from __future__ import annotations

from datetime import datetime

from fundledger_kernel.fund.fold_input import FundLogError
from fundledger_platform.errors import InvalidArgument, NotFound
from fundledger_platform.reasons import Reason
from fundledger_platform.recorded import fund_log_data_loss

from snapshotter.domain.model import StreamInfo
from snapshotter.domain.replay import Replay
from snapshotter.metrics import EVENTS_REPLAYED
from snapshotter.service_layer.errors import fund_not_found, unfoldable
from snapshotter.service_layer.history import History
from snapshotter.service_layer.ports import EventLog


class TimeTravel:
    def __init__(self, events: EventLog, history: History) -> None:
        self._events = events
        self._history = history

    async def at_time(self, fund_id: str, at: datetime) -> Replay:
        """Every event recorded at or before `at`; a future time gives the current state.

        The read itself tells whether the fund had events by then; only when it
        had none is the event store asked why (no such fund, or `at` before
        its first event). A log that cannot be folded is DATA_LOSS.
        """
        try:
            replay = await self._history.at_time(fund_id, at)
        except FundLogError as err:
            raise fund_log_data_loss(err) from None
        if replay.state.version == 0:
            info = await self._require(fund_id)
            raise _before_first(fund_id, at, info.first_recorded_at)
        EVENTS_REPLAYED.observe(replay.events_replayed)
        return replay

    async def at_version(self, fund_id: str, version: int) -> Replay:
        """Exactly at `version`.

        0 or less is INVALID_ARGUMENT (no fund ever has such a version); beyond
        the current version is OUT_OF_RANGE naming the current one (it may
        exist later). The fund's current version is asked for only when the
        log ends before `version`; a log that cannot be folded is DATA_LOSS.
        """
        check_at_version(version)
        try:
            replay = await self._history.at_version(fund_id, version)
        except FundLogError as err:
            raise await unfoldable(self._events, fund_id, "at_version", version, err) from None
        EVENTS_REPLAYED.observe(replay.events_replayed)
        return replay

    async def _require(self, fund_id: str) -> StreamInfo:
        info = await self._events.stream_info(fund_id)
        if info is None or info.version == 0:
            raise fund_not_found(fund_id)
        return info


def check_at_version(version: int) -> None:
    """INVALID_ARGUMENT for a version no fund ever has (0 or less)."""
    if version <= 0:
        raise InvalidArgument(
            "at_version must be at least 1 (the first event is version 1)",
            reason=Reason.VERSION_INVALID,
            field="at_version",
        )


def _before_first(fund_id: str, at: datetime, first: datetime | None) -> NotFound:
    metadata = {"fund_id": fund_id, "at_time": at.isoformat()}
    if first is not None:
        metadata["first_event_time"] = first.isoformat()
    return NotFound(
        f"{fund_id} had no events at {at.isoformat()}",
        reason=Reason.FUND_NOT_FOUND_AT_TIME,
        metadata=metadata,
    )
