"""Canonical JSON and the hashes built on it.

A hash of a payload must depend on its value only, never on how a client happened to write it:
keys are sorted at every level and no insignificant whitespace is emitted, so `{"a":1,"b":2}` and
`{ "b": 2, "a": 1 }` hash the same (FM-6). Non-ASCII text is kept as UTF-8 rather than
`\\u` escapes, so each string has exactly one encoding.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

# Strict parsing lives in its own module; re-exported so callers find the JSON entry points here.
from fundledger_kernel.errors import PayloadError
from fundledger_kernel.json_input import parse_json_object

__all__ = ["PayloadError", "canonical_json", "parse_json_object", "payload_hash", "request_hash"]


def canonical_json(value: object) -> bytes:
    """UTF-8 bytes of `value` as JSON with sorted keys and no whitespace.

    Raises ValueError for NaN or infinity (not JSON) and for strings that are not valid Unicode,
    TypeError for values JSON cannot represent.
    """
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def payload_hash(data: object) -> bytes:
    """SHA-256 digest (32 bytes) of the canonical JSON of an event's data."""
    return hashlib.sha256(canonical_json(data)).digest()


def request_hash(parts: Sequence[object]) -> bytes:
    """SHA-256 digest of a whole request, for idempotency keys.

    `parts` is hashed as one JSON array: its order matters (the events of an append are ordered),
    key order and whitespace inside each part do not.
    """
    return hashlib.sha256(canonical_json(list(parts))).digest()
