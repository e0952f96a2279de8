"""Recorded events from the wire into the kernel's LoggedEvent, and the one caller-facing form
of a fund log that cannot be folded (fundledger_kernel.fund.fold_input)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_kernel.fund.fold_input import FundLogError, LoggedEvent, UnreadableEventError

from fundledger_platform.errors import DataLoss
from fundledger_platform.reasons import Reason
from fundledger_platform.timestamps import from_timestamp

L = TypeVar("L", bound=LoggedEvent)


def logged_event(event: RecordedEvent) -> LoggedEvent:
    """The fold's view of a recorded event."""
    return logged_as(event, LoggedEvent)


def logged_as(event: RecordedEvent, make: Callable[..., L], **extra: Any) -> L:
    """logged_event built by `make` (a LoggedEvent subclass, e.g. the chain check's
    ChainedEvent, whose own fields come in `extra`)."""
    return make(
        stream_id=event.stream_id,
        version=event.version,
        position=event.position,
        event_id=event.event_id,
        event_type=event.event_type,
        data=event.data,
        recorded_at=from_timestamp(event.recorded_at),
        tenant=event.tenant,
        schema_version=event.schema_version,
        # Always set by an event store that knows business time; an older one leaves it unset.
        effective_at=from_timestamp(event.effective_at) if event.HasField("effective_at") else None,
        **extra,
    )


def fund_log_data_loss(err: FundLogError) -> DataLoss:
    """DATA_LOSS for a caller whose answer needed that fund's log folded."""
    metadata = {"fund_id": err.fund_id, "version": str(err.version)}
    if isinstance(err, UnreadableEventError):
        metadata["event_type"] = err.event_type
        return DataLoss(str(err), reason=Reason.FUND_EVENT_UNREADABLE, metadata=metadata)
    # Imported here: chain_check builds its events on logged_event above.
    from fundledger_platform.chain_check import ChainBreakError

    if isinstance(err, ChainBreakError):
        return DataLoss(str(err), reason=Reason.FUND_CHAIN_BROKEN, metadata=metadata)
    return DataLoss(str(err), reason=Reason.FUND_LOG_GAP, metadata=metadata)
