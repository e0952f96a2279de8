"""Phase peer's figures (phase_peer.py) and the issue-11 comparisons with FundLedger's.

Keys are ``peer-<what>.c<threads>``: saves of one event to an aggregate of the thread's own,
and gets (reconstructions) of an aggregate of 50 or 1,000 events.
"""

from __future__ import annotations

from dataclasses import dataclass

SAVE_THREADS = (1, 8)
GET_EVENTS = (50, 1000)
TARGET_RATIO = 1.5
LIBRARY = "eventsourcing"


def save_key(threads: int) -> str:
    return f"peer-save.c{threads}"


def get_key(events: int) -> str:
    return f"peer-get{events}.c1"


def is_peer(key: str) -> bool:
    return key.startswith("peer-")


@dataclass(frozen=True)
class Comparison:
    ours: str  # FundLedger's figure of the same run
    theirs: str  # the library's
    what: str


# Issue 11: FundLedger's figure ≥ TARGET_RATIO× the library's, both calls/s. The read is
# ReadStream as every client now makes it, in pages (phase batched's read50b; the library's
# get also hands back the whole aggregate at once).
COMPARISONS = (
    Comparison("append.own.c8", save_key(8), "append 1 event c8 vs the library's 8-thread save"),
    Comparison("read50b.c1", get_key(50), "ReadStream 50 c1 vs the library's get of 50 events"),
)
