"""The one error a caller's payload can cause, and how offending values are shown in it."""

from __future__ import annotations

import json
from collections.abc import Mapping

# Long values are cut in messages: the caller needs to recognise the value, not to see it whole.
_MAX_SHOWN = 40


class PayloadError(Exception):
    """A payload (event data or metadata) that the event store must refuse.

    `field` locates the problem (`data`, `data.amount_cents`, `data.changes[1].to_cents`) so the
    gRPC layer can name it in an INVALID_ARGUMENT; `message` says what is wrong with it.
    """

    def __init__(self, field: str, message: str) -> None:
        # Both go to args so the exception survives pickling (e.g. across process pools).
        super().__init__(field, message)
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def describe_value(value: object) -> str:
    """Render a JSON value for an error message, e.g. `10.5`, `true`, `the string "123"`."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        try:
            text = str(value)
        except ValueError:  # beyond Python's int-to-str digit limit
            return "a very large integer"
        return _cut(text)
    if isinstance(value, float):
        return _cut(json.dumps(value))
    if isinstance(value, str):
        return "the string " + json.dumps(_cut(value), ensure_ascii=False)
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return f"a {type(value).__name__}"


def _cut(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"
