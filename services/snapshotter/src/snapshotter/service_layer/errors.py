"""Caller-visible failures the use cases share."""

from __future__ import annotations

from fundledger_kernel.fund.fold_input import FundLogError, LogGapError
from fundledger_platform.errors import DomainError, NotFound, OutOfRange
from fundledger_platform.reasons import Reason
from fundledger_platform.recorded import fund_log_data_loss

from snapshotter.service_layer.ports import EventLog


def fund_not_found(fund_id: str) -> NotFound:
    return NotFound(
        f"fund {fund_id} has no events", reason=Reason.FUND_NOT_FOUND, metadata={"fund_id": fund_id}
    )


def beyond_current(fund_id: str, field: str, asked: int, current: int) -> OutOfRange:
    # OUT_OF_RANGE rather than INVALID_ARGUMENT: the version is well-formed and becomes valid
    # once the fund grows, so a caller walking versions detects "past the end" by its code.
    return OutOfRange(
        f"{field} {asked} is beyond the current version {current} of {fund_id}",
        reason=Reason.VERSION_BEYOND_CURRENT,
        metadata={"fund_id": fund_id, "current_version": str(current), "asked": str(asked)},
        field=field,
    )


async def unfoldable(
    events: EventLog, fund_id: str, field: str, asked: int, err: FundLogError
) -> DomainError:
    """What a caller asking for the state at version `asked` is told when the fold failed.

    A gap may only mean the log ends before `asked`: time travel and CreateSnapshot do not ask
    the event store for the fund's current version up front (a round trip saved on every call),
    so they ask now, to answer NOT_FOUND or OUT_OF_RANGE. Any other unfoldable log is DATA_LOSS.
    """
    if isinstance(err, LogGapError):
        info = await events.stream_info(fund_id)
        if info is None or info.version == 0:
            return fund_not_found(fund_id)
        if asked > info.version:
            return beyond_current(fund_id, field, asked, info.version)
    return fund_log_data_loss(err)
