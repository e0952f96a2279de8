"""Strict parsing of a caller's JSON payload into a plain object.

Python's `json` module is lenient where an event log must not be: it accepts NaN and Infinity
(not JSON, and not storable as jsonb), silently keeps the last of duplicate keys (so two readers of
the same bytes could disagree), turns `1e400` into infinity, and accepts `\\ud800` and `\\u0000`
escapes that yield strings which cannot be encoded as UTF-8 or stored in PostgreSQL jsonb. Each of
these is refused here with a message naming the payload, so it becomes INVALID_ARGUMENT instead of
a failure deeper down.
"""

from __future__ import annotations

import json
import math
import sys

from fundledger_kernel.errors import PayloadError, describe_value
from fundledger_kernel.paths import index_path, key_path


class _Refused(Exception):
    """Raised from inside the json hooks; turned into a PayloadError for the whole payload."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_json_object(raw: bytes, field: str) -> dict[str, object]:
    """Parse `raw` as a UTF-8 JSON object; raise PayloadError(field, ...) for anything else."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(
            field, f"is not valid UTF-8 (invalid byte at offset {exc.start})"
        ) from None
    if text.startswith("\ufeff"):
        raise PayloadError(field, "must not start with a byte-order mark")
    if not text.strip():
        raise PayloadError(field, "is empty; expected a JSON object")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object_without_duplicates,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except _Refused as exc:
        raise PayloadError(field, exc.message) from None
    except json.JSONDecodeError as exc:
        raise PayloadError(
            field, f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise PayloadError(field, "is nested too deeply") from None
    if not isinstance(value, dict):
        raise PayloadError(field, f"must be a JSON object, got {describe_value(value)}")
    # Unpaired surrogates and NUL can only come from \u escapes (strict UTF-8 decoding refuses
    # encoded surrogates, and strict JSON refuses raw control characters), so most payloads
    # skip the walk.
    if "\\u" in text:
        _refuse_unstorable_strings(value, field)
    return value


def _object_without_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise _Refused(f"duplicate key {json.dumps(key, ensure_ascii=False)}")
        result[key] = value
    return result


def _refuse_constant(name: str) -> object:
    raise _Refused(f"{name} is not valid JSON; numbers must be finite")


def _finite_float(literal: str) -> float:
    number = float(literal)
    if not math.isfinite(number):  # e.g. 1e400 overflows to infinity
        raise _Refused(f"number {literal[:40]} is too large")
    return number


def _bounded_int(literal: str) -> int:
    # int() would raise a ValueError advising sys.set_int_max_str_digits; say it plainly instead.
    limit = sys.get_int_max_str_digits()
    if limit and len(literal.lstrip("-")) > limit:
        raise _Refused(f"integer with {len(literal.lstrip('-'))} digits is too large")
    return int(literal)


def _refuse_unstorable_strings(root: dict[str, object], field: str) -> None:
    # Iterative: the parser allows nesting deeper than a recursive walk could safely follow.
    stack: list[tuple[object, str]] = [(root, field)]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            _check_string(value, path, "")
        elif isinstance(value, dict):
            for key, member in value.items():
                _check_string(key, path, "key ")
                stack.append((member, key_path(path, key)))
        elif isinstance(value, list):
            stack.extend((item, index_path(path, i)) for i, item in enumerate(value))


def _check_string(text: str, path: str, what: str) -> None:
    if "\x00" in text:
        raise PayloadError(
            path, f"{what}contains a NUL character (\\u0000), which cannot be stored"
        )
    for char in text:
        if "\ud800" <= char <= "\udfff":
            raise PayloadError(
                path,
                f"{what}contains an unpaired surrogate (\\u{ord(char):04x}), which is not valid"
                " Unicode",
            )
