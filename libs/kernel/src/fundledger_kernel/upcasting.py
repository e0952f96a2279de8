"""Schema evolution without rewriting history: upcasters, one step per version.

A stored event keeps the schema version it was appended with, forever (the log is immutable).
Readers never see old shapes: every decode of a payload first runs it through the chain of
steps from its version to the newest, each a pure function from one version's JSON object to
the next one's. An append of an older version is upcast the same way before validation (and
stored as given), and a version newer than the chain is refused, so a client can never write a
shape this server cannot read.

A step names the fields its target version added. Those fields are refused in a payload that
claims the older version: a v1 payload carrying v2's `instrument` is a client mixing up
versions, and silently keeping (or overwriting) its value would hide that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from fundledger_kernel.errors import PayloadError
from fundledger_kernel.paths import key_path

Upcaster = Callable[[Mapping[str, object]], dict[str, object]]


@dataclass(frozen=True, slots=True)
class Step:
    """How a payload of `event_type` at `from_version` becomes `from_version + 1`."""

    event_type: str
    from_version: int
    # JSON keys the next version introduced (proto and camelCase spellings).
    adds: frozenset[str]
    upcast: Upcaster


class UpcasterRegistry:
    """(event type, schema version) -> the step to the next version."""

    def __init__(self, steps: Iterable[Step]) -> None:
        table: dict[tuple[str, int], Step] = {}
        for step in steps:
            key = (step.event_type, step.from_version)
            if key in table or step.from_version < 1:
                raise ValueError(f"{step.event_type} step from v{step.from_version} is invalid")
            table[key] = step
        newest: dict[str, int] = {}
        for event_type, version in sorted(table):
            # A chain must be contiguous from 1: a hole would strand payloads of that version.
            if version != newest.get(event_type, 1):
                raise ValueError(f"{event_type} has no upcaster from v{newest.get(event_type, 1)}")
            newest[event_type] = version + 1
        self._steps: Mapping[tuple[str, int], Step] = MappingProxyType(table)
        self._newest: Mapping[str, int] = MappingProxyType(newest)

    def newest_version(self, event_type: str) -> int:
        """The newest schema version of `event_type` (1 for a type that never changed)."""
        return self._newest.get(event_type, 1)

    def upcast(
        self, event_type: str, schema_version: int, data: Mapping[str, object], path: str = "data"
    ) -> Mapping[str, object]:
        """`data` (a payload at `schema_version`; 0 is read as 1) in the newest shape.

        Returns `data` itself when it is already the newest. Raises PayloadError for a version
        newer than the newest (field "schema_version") or for a field of a later version.
        """
        version = schema_version or 1
        newest = self.newest_version(event_type)
        if version > newest or version < 0:
            raise PayloadError(
                "schema_version",
                f"{event_type} has schema versions 1 to {newest}; {version} is not one of them",
            )
        while version < newest:
            step = self._steps[(event_type, version)]
            for key in data:
                if key in step.adds:
                    raise PayloadError(
                        key_path(path, key),
                        f"is not a field of {event_type} schema version {version}"
                        f" (it came with version {version + 1})",
                    )
            data = step.upcast(data)
            version += 1
        return data
