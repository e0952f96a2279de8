"""Typed, strict reading of stored state JSON.

Stored state comes back from a database row or a snapshot that may be corrupt, hand-edited, or
written by other code. Reading it must either yield exactly the values that were written or fail
naming the key: a silently defaulted field (a missing `called_cents` read as 0) would be a wrong
fund state served as a right one. So each accessor checks presence and JSON type; booleans are
not integers here, although Python treats them as such.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


class StoredStateError(ValueError):
    """Stored state JSON that cannot be read as a fund state."""


class JsonObject:
    """A JSON object with its location (`state.companies[2]`) for error messages."""

    __slots__ = ("_data", "path")

    def __init__(self, data: Mapping[str, Any], path: str) -> None:
        self._data = data
        self.path = path

    def raw(self, key: str) -> object:
        """The value at `key` as stored, or None when absent."""
        return self._data.get(key)

    def _get(self, key: str) -> object:
        if key not in self._data:
            raise StoredStateError(f"{self.path}.{key}: missing")
        return self._data[key]

    def integer(self, key: str) -> int:
        value = self._get(key)
        if type(value) is not int:  # excludes bool, which is an int subclass
            raise StoredStateError(f"{self.path}.{key}: expected an integer, got {value!r}")
        return value

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise StoredStateError(f"{self.path}.{key}: expected a string, got {value!r}")
        return value

    def optional_text(self, key: str) -> str | None:
        value = self._get(key)
        return None if value is None else self.text(key)

    def _list(self, key: str) -> list[Any]:
        value = self._get(key)
        if not isinstance(value, list):
            raise StoredStateError(f"{self.path}.{key}: expected an array, got {value!r}")
        return value

    def texts(self, key: str) -> list[str]:
        values = self._list(key)
        for index, value in enumerate(values):
            if not isinstance(value, str):
                raise StoredStateError(f"{self.path}.{key}[{index}]: expected a string")
        return values

    def objects(self, key: str) -> Iterator[JsonObject]:
        for index, value in enumerate(self._list(key)):
            yield read_object(value, f"{self.path}.{key}[{index}]")


def read_object(value: object, path: str) -> JsonObject:
    """`value` as a JsonObject; StoredStateError when it is not a JSON object."""
    if not isinstance(value, Mapping):
        raise StoredStateError(f"{path}: expected an object, got {type(value).__name__}")
    return JsonObject(value, path)
