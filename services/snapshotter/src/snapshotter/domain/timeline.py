"""A fund's timeline: its events as the log stores them, each payload read as its fund message."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

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
    """
    (decoded,) = fold_inputs(event.version - 1, [event])
    return decoded.data
