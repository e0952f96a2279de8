"""Verifying the hash chain (docs/event-store.md, "Hash chain"): VerifyStream and VerifyLog.

A stream's chain is recomputed from its genesis hash through every event as a reader gets it
(the kernel's reference, fundledger_kernel.chain) and compared with each stored hash. The first
problem stops the stream's verification and is reported at its version:

- ``hash mismatch``: the stored hash is not the recomputed one — the event (any column a reader
  sees, or the hash itself) was edited, or an earlier event was edited in a way its own stored
  hash was recomputed for (then the mismatch shows at the first event after it);
- ``version missing``: the next event read is not the next version (an event deleted in the
  middle; after a swap of two versions the content check catches it at the lower one);
- ``version repeated``: two events claim one version;
- ``event missing at the head``: the stream head names a version the log has no event for (its
  last events deleted), reported at that version (the head's, or the one its last hash is of
  when the head's version was moved back too);
- ``event after the head``: events beyond the head's version;
- ``head hash mismatch``: the head's last hash is not the recomputed hash of its version;
- ``anchor mismatch``: a daily anchor (adapters/anchors.py, table log_anchor_streams) recorded
  the stream's head at a version whose event now has another stored hash, or none — the chain
  was rewritten consistently from an edited event on (which the chain alone cannot see), or
  events were removed. Checked after the chain, so a plain edit is still a ``hash mismatch``.

VerifyLog with ``from_position`` P > 0 is an incremental run: only the streams with an event at a
log position after P, each still verified whole from its genesis (a chain has no checkpoint to
start from in the middle); the others are skipped. An edit of an event in a stream with nothing
after P is therefore not seen by it: the daily anchors (their notary's roots, and each stream's
anchored heads as a full run checks them) and a periodic full run cover that. Every report
carries ``through_position``, the log's last position when the run started: the next
incremental run's P.

VerifyLog from the first stream (no ``from_stream_id``, incremental or not) first recomputes
each anchor's Merkle root
(fundledger_kernel.merkle) from its recorded heads: a root that does not match (the anchor's
heads were edited) is a break ``anchor root mismatch on <day>`` with no stream and version 0.
The root itself is kept outside the database by the notary the anchor was published to.

Events without a stored hash (written before the chain and not back-filled yet,
adapters/chain_backfill.py) are recomputed through but not checked: counted as unverified, not
a break, so a log being back-filled verifies; each later stored hash still covers them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_kernel.chain import genesis, link
from fundledger_kernel.merkle import root
from fundledger_platform.chain_check import chain_event

HASH_MISMATCH = "hash mismatch"
VERSION_MISSING = "version missing"
VERSION_REPEATED = "version repeated"
HEAD_EVENT_MISSING = "event missing at the head"
AFTER_HEAD = "event after the head"
HEAD_HASH_MISMATCH = "head hash mismatch"
ANCHOR_MISMATCH = "anchor mismatch"
ANCHOR_ROOT_MISMATCH = "anchor root mismatch"

# Streams per query of VerifyLog, and the least time between two progress reports.
PAGE = 500
PROGRESS_SECONDS = 1.0


@dataclass(frozen=True)
class ChainHead:
    stream_id: str
    version: int
    last_hash: bytes | None
    chain_version: int | None


@dataclass(frozen=True)
class Anchored:
    """A stream's head as a daily anchor recorded it."""

    day: date
    version: int
    hash: bytes


@dataclass(frozen=True)
class DayAnchor:
    """A recorded anchor: its root and the (stream id, head hash) pairs it was taken over."""

    day: date
    stream_count: int
    root: bytes
    heads: list[tuple[str, bytes]]


@dataclass(frozen=True)
class ChainBreak:
    stream_id: str
    version: int
    problem: str


@dataclass(frozen=True)
class StreamVerdict:
    head: ChainHead
    events_checked: int
    events_unverified: int
    head_hash: bytes  # as stored on the event at the head version (empty: none)
    problem: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass
class LogProgress:
    streams_total: int
    through_position: int = 0
    streams_checked: int = 0
    events_checked: int = 0
    events_unverified: int = 0
    breaks: list[ChainBreak] = field(default_factory=list)
    last_stream_id: str = ""
    done: bool = False


class ChainSource(Protocol):
    """Implemented by adapters/chain_reader.py; every read narrowed to the caller's tenant."""

    async def head(self, stream_id: str) -> ChainHead | None: ...

    async def heads(
        self, start: str, limit: int, *, inclusive: bool, after_position: int = 0
    ) -> list[ChainHead]: ...

    async def count(self, from_stream_id: str, after_position: int = 0) -> int: ...

    async def head_position(self) -> int: ...

    def events(self, stream_id: str) -> AsyncIterator[list[RecordedEvent]]: ...

    async def anchored(self, stream_ids: Sequence[str]) -> dict[str, list[Anchored]]: ...

    async def anchor_days(self, after: date | None, limit: int) -> list[date]: ...

    async def anchor(self, day: date) -> DayAnchor | None: ...


async def verify_stream(
    source: ChainSource, head: ChainHead, anchored: list[Anchored] | None = None
) -> StreamVerdict:
    """Recomputes ``head``'s stream and compares (the module docstring lists what it finds);
    ``anchored``: the stream's anchored heads, read here when not given."""
    stream_id = head.stream_id
    if anchored is None:
        anchored = (await source.anchored([stream_id])).get(stream_id, [])
    pinned: dict[int, bytes] = {a.version: a.hash for a in anchored}
    pinned_problem: ChainBreak | None = None
    current = genesis(stream_id)
    expected = 1
    checked = unverified = 0
    stored_last = b""
    problem: ChainBreak | None = None
    async for events in source.events(stream_id):
        for event in events:
            if event.version != expected:
                if event.version > head.version:
                    at, what = head.version + 1, AFTER_HEAD
                elif event.version > expected:
                    at, what = expected, VERSION_MISSING
                else:
                    at, what = event.version, VERSION_REPEATED
                problem = ChainBreak(stream_id, at, what)
                break
            current = link(current, chain_event(event))
            if not event.hash:
                unverified += 1
            elif event.hash != current:
                problem = ChainBreak(stream_id, event.version, HASH_MISMATCH)
                break
            if pinned_problem is None and pinned.pop(event.version, event.hash) != event.hash:
                # Reported unless the chain breaks earlier: the first problem wins.
                pinned_problem = ChainBreak(stream_id, event.version, ANCHOR_MISMATCH)
            checked += 1
            stored_last = event.hash
            expected += 1
        if problem is not None:
            break
    if problem is None:
        if expected - 1 < head.version:
            problem = ChainBreak(stream_id, head.version, HEAD_EVENT_MISSING)
        elif head.chain_version is not None and head.chain_version > head.version:
            # The head was moved back over its last events: its hash still names them.
            problem = ChainBreak(stream_id, head.chain_version, HEAD_EVENT_MISSING)
        elif (
            head.last_hash is not None
            and head.chain_version == head.version
            and head.last_hash != current
        ):
            problem = ChainBreak(stream_id, head.version, HEAD_HASH_MISMATCH)
    if problem is None or (pinned_problem is not None and pinned_problem.version < problem.version):
        problem = pinned_problem
    if problem is None and pinned:
        # Anchored versions past the stream's last event: removed since.
        problem = ChainBreak(stream_id, min(pinned), ANCHOR_MISMATCH)
    return StreamVerdict(head, checked, unverified, stored_last, problem)


async def verify_log(
    source: ChainSource, from_stream_id: str, from_position: int = 0
) -> AsyncIterator[LogProgress]:
    """Every stream from ``from_stream_id`` (inclusive) in id order — with ``from_position`` > 0
    only those with an event after it: a progress report at most every PROGRESS_SECONDS (with
    the breaks found since the one before), and a last one with ``done``."""
    # Read first: whatever commits later is past it, so the next run from it misses nothing.
    through = await source.head_position()
    progress = LogProgress(
        streams_total=await source.count(from_stream_id, from_position),
        through_position=through,
    )
    last_report = time.monotonic()
    if not from_stream_id:
        progress.breaks.extend([b async for b in verify_anchor_roots(source)])
    heads = await source.heads(from_stream_id, PAGE, inclusive=True, after_position=from_position)
    while heads:
        anchored = await source.anchored([h.stream_id for h in heads])
        for head in heads:
            verdict = await verify_stream(source, head, anchored.get(head.stream_id, []))
            progress.streams_checked += 1
            progress.events_checked += verdict.events_checked
            progress.events_unverified += verdict.events_unverified
            progress.last_stream_id = head.stream_id
            if verdict.problem is not None:
                progress.breaks.append(verdict.problem)
            if time.monotonic() - last_report >= PROGRESS_SECONDS:
                yield progress
                progress.breaks = []
                last_report = time.monotonic()
        heads = await source.heads(
            heads[-1].stream_id, PAGE, inclusive=False, after_position=from_position
        )
    progress.done = True
    yield progress


async def verify_anchor_roots(source: ChainSource) -> AsyncIterator[ChainBreak]:
    """Every recorded anchor's root recomputed from its recorded heads, oldest first."""
    after: date | None = None
    while True:
        days = await source.anchor_days(after, PAGE)
        for day in days:
            anchor = await source.anchor(day)
            if anchor is None:
                continue  # removed meanwhile
            if len(anchor.heads) != anchor.stream_count or root(anchor.heads) != anchor.root:
                yield ChainBreak("", 0, f"{ANCHOR_ROOT_MISMATCH} on {day.isoformat()}")
        if len(days) < PAGE:
            return
        after = days[-1]
