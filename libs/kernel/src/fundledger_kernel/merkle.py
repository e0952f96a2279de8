"""The Merkle root of a daily anchor (docs/event-store.md, "Hash chain"): the reference
implementation.

An anchor names, for every stream changed on a day, the hash of its last event of that day
(fundledger_kernel.chain); its root is a single 32-byte value that commits to all of them, so an
external notary keeping the root can later prove that no anchored hash was changed.

Specified precisely enough to recompute in any language:

- leaf(stream_id, head_hash) = SHA-256(0x00 || len || stream_id || head_hash), where stream_id
  is its UTF-8 bytes, len their count as 4 bytes big-endian, head_hash the 32-byte hash;
- node(left, right) = SHA-256(0x01 || left || right);
- the leaves are ordered by the UTF-8 bytes of their stream ids (each stream at most once);
  each level pairs its nodes from the left, and an odd last node is promoted to the next level
  unchanged; the root is the one node left;
- the root of no leaves is SHA-256 of the empty string (a day without changes).

The 0x00/0x01 prefixes keep a leaf from ever being taken for a node (second pre-image).
Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable

LEAF = b"\x00"
NODE = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LENGTH = struct.Struct(">I")


def leaf(stream_id: str, head_hash: bytes) -> bytes:
    raw = stream_id.encode()
    return hashlib.sha256(LEAF + _LENGTH.pack(len(raw)) + raw + head_hash).digest()


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE + left + right).digest()


def root(heads: Iterable[tuple[str, bytes]]) -> bytes:
    """The root over ``(stream_id, head_hash)`` pairs, in any order (sorted here)."""
    pairs = sorted((s.encode(), s, h) for s, h in heads)
    ids = [raw for raw, _, _ in pairs]
    if len(set(ids)) != len(ids):
        raise ValueError("a stream appears twice in an anchor")
    level = [leaf(s, h) for _, s, h in pairs]
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        paired = [node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]
