"""Events as an operator writes them in JSON, checked before anything is sent.

One event is a JSON object: `event_type`, `data` (a JSON object) and optionally `event_id`
(a UUID), `metadata` (string values), `user_id`, `correlation_id`, `causation_id`,
`schema_version`, `effective_at` (an RFC 3339 time with its offset: when the fact happened, in
the past or, within the event store's horizon, the future; unset means when it is recorded).
Fund event types are validated against their protobuf schemas with the kernel's validator (an
older schema version upcast first, as the event store does), so a bad payload is refused here,
naming the line and the field, before any of the file is written. Money is integer cents; a
float is refused.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fundledger_kernel import PayloadError, is_fund_event, parse_json_object
from fundledger_kernel.streams import STREAM_ID_RULE, category_of
from fundledger_kernel.validation import validate_new_fund_payload

from fundledger_cli.errors import CliError, ExitCode

EVENT_FIELDS = frozenset(
    {
        "event_type",
        "data",
        "event_id",
        "metadata",
        "user_id",
        "correlation_id",
        "causation_id",
        "schema_version",
        "effective_at",
    }
)
# Errors listed before "... and N more".
MAX_ERRORS_SHOWN = 20


class InputError(Exception):
    """One bad input item: where it is (`line 7`), which field, what is wrong."""

    def __init__(self, where: str, field_path: str, message: str) -> None:
        super().__init__(where, field_path, message)
        self.where = where
        self.field = field_path
        self.message = message

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.message}"


@dataclass(frozen=True)
class ProposedEvent:
    event_type: str
    data: Mapping[str, object]
    event_id: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    user_id: str = ""
    correlation_id: str = ""
    causation_id: str = ""
    schema_version: int = 0
    # Business time (UTC); None: the time the event store records it.
    effective_at: datetime | None = None

    def payload(self) -> bytes:
        """The data as compact UTF-8 JSON (the server hashes its canonical form)."""
        return json.dumps(self.data, separators=(",", ":"), ensure_ascii=False).encode()


def check_stream_id(stream_id: object, where: str, field_path: str = "stream_id") -> str:
    if not isinstance(stream_id, str) or not stream_id:
        raise InputError(where, field_path, "must be a non-empty string like 'fund-<id>'")
    if category_of(stream_id) is None:
        raise InputError(where, field_path, f"{STREAM_ID_RULE}, got {stream_id[:60]!r}")
    return stream_id


def _string(obj: Mapping[str, object], key: str, where: str, required: bool = False) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise InputError(where, key, "required field is missing")
        return ""
    if not isinstance(value, str) or (required and not value):
        raise InputError(where, key, f"must be a non-empty string, got {json.dumps(value)}")
    return value


def _metadata(obj: Mapping[str, object], where: str) -> dict[str, str]:
    value = obj.get("metadata")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(where, "metadata", "must be a JSON object of strings")
    result: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(item, str):
            raise InputError(where, f"metadata.{key}", "must be a string")
        result[str(key)] = item
    return result


def parse_event(
    obj: Mapping[str, object], where: str, extra_fields: frozenset[str] = frozenset()
) -> ProposedEvent:
    """Check one event object; raise InputError naming the field."""
    for key in sorted(obj):
        if key not in EVENT_FIELDS and key not in extra_fields:
            allowed = ", ".join(sorted(EVENT_FIELDS | extra_fields))
            raise InputError(where, key, f"unknown field (expected one of: {allowed})")
    event_type = _string(obj, "event_type", where, required=True)
    data = obj.get("data")
    if data is None:
        raise InputError(where, "data", "required field is missing")
    if not isinstance(data, dict):
        raise InputError(where, "data", "must be a JSON object")
    schema_version = obj.get("schema_version", 0)
    if isinstance(schema_version, bool) or not isinstance(schema_version, int):
        raise InputError(where, "schema_version", "must be an integer")
    if is_fund_event(event_type):
        try:
            validate_new_fund_payload(event_type, data, schema_version or 1)
        except PayloadError as exc:
            raise InputError(where, exc.field, exc.message) from None
    event_id = _string(obj, "event_id", where)
    if event_id:
        try:
            event_id = str(uuid.UUID(event_id))
        except ValueError:
            raise InputError(where, "event_id", "must be a UUID") from None
    return ProposedEvent(
        event_type=event_type,
        data=data,
        event_id=event_id,
        metadata=_metadata(obj, where),
        user_id=_string(obj, "user_id", where),
        correlation_id=_string(obj, "correlation_id", where),
        causation_id=_string(obj, "causation_id", where),
        schema_version=schema_version,
        effective_at=_effective_at(obj.get("effective_at"), where),
    )


def _effective_at(value: object, where: str) -> datetime | None:
    """An RFC 3339 time with its offset (`2025-09-30T17:00:00Z`, `…+02:00`), in UTC."""
    if value is None:
        return None
    rule = "must be an RFC 3339 time with its offset, e.g. 2025-09-30T17:00:00Z"
    if not isinstance(value, str) or "T" not in value.upper():
        raise InputError(where, "effective_at", f"{rule}, got {json.dumps(value)}")
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise InputError(where, "effective_at", f"{rule}, got {value!r}") from None
    if parsed.tzinfo is None:
        raise InputError(where, "effective_at", f"{rule} (this one has no offset)")
    return parsed.astimezone(UTC)


def parse_json_line(raw: bytes, where: str) -> dict[str, object]:
    """One strict JSON object (no NaN, no duplicate keys), errors naming `where`."""
    try:
        return parse_json_object(raw, "json")
    except PayloadError as exc:
        raise InputError(where, "json", exc.message.removeprefix("json ")) from None


def read_json_items(raw: bytes) -> list[tuple[str, dict[str, object]]]:
    """A JSON object, a JSON array of objects, or JSONL; each item with its location."""
    text = raw.lstrip()
    if text.startswith(b"["):
        try:
            items = json.loads(raw, parse_constant=_refuse_constant)
        except (json.JSONDecodeError, ValueError) as exc:
            raise InputError("file", "json", f"is not a valid JSON array: {exc}") from None
        if not isinstance(items, list):
            raise InputError("file", "json", "must be a JSON array of objects")
        located: list[tuple[str, dict[str, object]]] = []
        for index, item in enumerate(items):
            where = f"item {index}"
            if not isinstance(item, dict):
                raise InputError(where, "json", "must be a JSON object")
            located.append((where, item))
        return located
    try:  # one object spanning the whole file (pretty-printed)
        return [("file", parse_json_object(raw, "json"))]
    except PayloadError:
        pass
    return [
        (f"line {number}", parse_json_line(line, f"line {number}"))
        for number, line in enumerate(raw.splitlines(), start=1)
        if line.strip()
    ]


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def input_failure(errors: list[InputError], total_what: str) -> CliError:
    """All bad items as one CliError (exit code 2), nothing written."""
    shown = [str(e) for e in errors[:MAX_ERRORS_SHOWN]]
    if len(errors) > MAX_ERRORS_SHOWN:
        shown.append(f"... and {len(errors) - MAX_ERRORS_SHOWN} more")
    return CliError(
        f"{len(errors)} invalid {total_what}; nothing was written", ExitCode.USAGE, shown
    )
