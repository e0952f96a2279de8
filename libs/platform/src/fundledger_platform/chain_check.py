"""Consumers verify the hash chain (issue 13; docs/event-store.md, "Hash chain").

The projector and the snapshotter fold a fund's events one run at a time. Each keeps, with what
it wrote for the fund, the hash of the last event it applied; before folding the next run it
recomputes every event's link (fundledger_kernel.chain) from that hash and the event as it was
delivered, and compares it with the hash the event store stored. A mismatch means an event was
edited, removed or reordered in the database after its hash was taken (or its hash was): the
fund's log is not what it was, so it is refused exactly like a log that cannot be folded —
ChainBreakError is a FundLogError: DATA_LOSS for a caller, the bus consumer halts that fund
with an alert (fundledger_consumer_halted_streams), the catch-up sets it aside.

An event with an empty hash (written before the chain existed, not back-filled yet) cannot be
checked. Its link is computed and carried on, so the next hashed event still verifies against
it (the back-fill computes the very same chain); it is counted as unverified. When no previous
hash is known (a row written before consumers verified, or a delivery that lacked the chain's
fields) the first hashed event is taken as it is, counted as unverified, and the chain is
checked from it on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_kernel.chain import ChainEvent, genesis, link
from fundledger_kernel.fund.fold_input import FundLogError, LoggedEvent

from fundledger_platform.recorded import logged_as


@dataclass(frozen=True, slots=True)
class ChainedEvent(LoggedEvent):
    """A LoggedEvent with what its link in the chain covers and the hash the log stored."""

    chain: ChainEvent | None = None
    # As stored; b"" for an event whose chain has not been computed yet.
    hash: bytes = b""


class ChainBreakError(FundLogError):
    """An event's stored hash is not the link of the previous hash and the event."""

    def __init__(self, fund_id: str, version: int, stored: bytes, expected: bytes) -> None:
        super().__init__(
            fund_id,
            version,
            f"hash chain broken: stored {stored.hex()[:16]}…, computed {expected.hex()[:16]}…",
        )
        self.stored = stored
        self.expected = expected


def _micros(seconds: int, nanos: int) -> int:
    return seconds * 1_000_000 + nanos // 1000


def chain_event(event: RecordedEvent) -> ChainEvent:
    """What the chain covers of a RecordedEvent: what any reader (the bus included) recomputes
    an event's hash from; the event store's own verification and back-fill use it too."""
    recorded = _micros(event.recorded_at.seconds, event.recorded_at.nanos)
    effective = (
        _micros(event.effective_at.seconds, event.effective_at.nanos)
        if event.HasField("effective_at")
        else recorded
    )
    return ChainEvent(
        stream_id=event.stream_id,
        version=event.version,
        position=event.position,
        event_id=event.event_id,
        category=event.category,
        event_type=event.event_type,
        schema_version=event.schema_version,
        data=event.data,
        metadata=dict(event.metadata),
        causation_id=event.causation_id,
        correlation_id=event.correlation_id,
        user_id=event.user_id,
        source=event.source,
        tenant=event.tenant,
        actor=event.actor,
        recorded_at_us=recorded,
        effective_at_us=effective,
    )


def chained_event(event: RecordedEvent) -> ChainedEvent:
    """The recorded event as the fold reads it (fundledger_platform.recorded.logged_event),
    with its chain fields and stored hash."""
    return logged_as(event, ChainedEvent, chain=chain_event(event), hash=event.hash)


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """The outcome of checking a run of events."""

    # The hash after the last event (stored, or computed for an unhashed one); None when unknown.
    last_hash: bytes | None
    verified: int = 0
    # Events whose link could not be compared (no stored hash, or no previous hash known).
    unverified: int = 0
    # The first version whose stored hash does not match (None: no break).
    broken_at: int | None = None
    stored: bytes = b""
    expected: bytes = b""


def previous_hash(stream_id: str, first_version: int, held: bytes | None) -> bytes | None:
    """The hash a run starting at `first_version` chains on: the genesis hash for version 1,
    else the one the consumer holds for the version before (None: not known)."""
    return genesis(stream_id) if first_version == 1 else held


def check_chain(previous: bytes | None, events: Iterable[LoggedEvent]) -> ChainCheck:
    """Check `events` (consecutive versions of one stream, continuing the version `previous` is
    the hash of) against their stored hashes. Pure; stops at the first break."""
    current = previous
    verified = unverified = 0
    for event in events:
        chain = event.chain if isinstance(event, ChainedEvent) else None
        stored = event.hash if isinstance(event, ChainedEvent) else b""
        computed = None if chain is None or current is None else link(current, chain)
        if not stored:
            unverified += 1
            current = computed
        elif computed is None:
            unverified += 1  # nothing to compare with: taken as it is, checked from here on
            current = stored
        elif computed != stored:
            return ChainCheck(
                current, verified, unverified, event.version, stored=stored, expected=computed
            )
        else:
            verified += 1
            current = stored
    return ChainCheck(current, verified, unverified)


def verify_chain(fund_id: str, previous: bytes | None, events: Iterable[LoggedEvent]) -> ChainCheck:
    """check_chain, raising ChainBreakError at a break."""
    checked = check_chain(previous, events)
    if checked.broken_at is not None:
        raise ChainBreakError(fund_id, checked.broken_at, checked.stored, checked.expected)
    return checked
