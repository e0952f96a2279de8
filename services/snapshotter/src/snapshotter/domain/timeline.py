"""A fund's timeline: its events as the log stores them, each payload read as its fund message,
on either clock (recorded or effective)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fundledger_kernel.fund.fold_input import LoggedEvent, fold_inputs
from google.protobuf.message import Message


@dataclass(frozen=True)
class TimelineEvent:
    """One event of a fund's timeline: what the fold reads, plus what the log keeps beside it."""

    event: LoggedEvent
    category: str
    schema_version: int
    metadata: Mapping[str, str]
    causation_id: str
    correlation_id: str
    user_id: str
    source: str


def fund_payload(event: LoggedEvent) -> Message | None:
    """The payload as its typed fund message; None for a type that is not a fund event.

    Decoded exactly as the fold decodes it (the kernel's fold input, for this one event), so
    the timeline and the state agree on which payloads are unreadable: UnreadableEventError.
    In the newest shape of its type: the kernel upcasts a payload stored with an older
    schema_version (LoggedEvent.schema_version) before decoding it.
    """
    (decoded,) = fold_inputs(event.version - 1, [event])
    return decoded.data


# A timeline page's cursor on the effective clock: (effective_at in microseconds since
# 0001-01-01 UTC, version) of the first event of the next page. Non-negative integers, so they
# fit the platform's page-token codec.
EffectiveKey = tuple[int, int]

_EPOCH = datetime(1, 1, 1, tzinfo=UTC)


def effective_key(event: LoggedEvent) -> EffectiveKey:
    return (event.business_time - _EPOCH) // timedelta(microseconds=1), event.version


def effective_page(
    rows: Iterable[TimelineEvent],
    start: datetime | None,
    end: datetime | None,
    from_key: EffectiveKey | None,
    size: int,
) -> tuple[list[TimelineEvent], EffectiveKey | None]:
    """One page of the timeline on the effective clock: the events with start <= effective_at
    <= end, newest first by (effective_at, version) — the order the fold reads them in,
    reversed — starting at `from_key` (inclusive); and the next page's key, None on the last.

    Keyed by (effective_at, version), not by offset: an event appended while a caller pages
    (even a backdated one) cannot shift the later pages; it shows only if it sorts below the
    page being read.
    """
    window = [
        row
        for row in rows
        if (start is None or row.event.business_time >= start)
        and (end is None or row.event.business_time <= end)
    ]
    window.sort(key=lambda row: effective_key(row.event), reverse=True)
    if from_key is not None:
        window = [row for row in window if effective_key(row.event) <= from_key]
    if len(window) > size:
        return window[:size], effective_key(window[size].event)
    return window, None
