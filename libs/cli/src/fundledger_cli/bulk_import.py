"""Bulk import planning: JSONL history -> per-stream versions -> batches. Pure, no I/O.

Each input line is one event with its `stream_id` (plus optional `occurred_at`, the time
it happened in the older system, kept as metadata). A line's `user_id` is kept as metadata
`imported_user_id` too: with authentication on, the event store records the verified importer
as the event's user, never a request field, so the older system's author survives only as
what the import file said. Versions are assigned per stream in
file order, starting at 1: the import fills streams that do not exist yet.

Why re-running is safe (idempotent) even without the state file: every event id is a
uuid5 over (stream, version, the line's canonical content), and every batch is appended
with `expected_version` = the version before it and an idempotency key derived from the
whole batch request. A batch that was already written is therefore either replayed by its
idempotency key or recognised by its event ids at the same versions (the event store
answers both as an idempotent replay and writes nothing). A batch that differs from what
is stored (the file was edited, or the stream holds other events) cannot be appended
twice: its expected version no longer matches and the event store refuses it (ABORTED).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from fundledger_kernel import canonical_json

from fundledger_cli.event_input import (
    InputError,
    ProposedEvent,
    check_stream_id,
    parse_event,
    parse_json_line,
)

# Fixed forever: changing it would change every event id and break re-runs.
IMPORT_NAMESPACE = uuid.UUID("5b0a7f3e-2d4c-5e1f-9a8b-6c7d8e9f0a1b")
IMPORT_SOURCE = "fundledger-cli-import"
OCCURRED_AT_KEY = "occurred_at"
LINE_FIELDS = frozenset({"stream_id", "occurred_at"})
# The event store's per-append limit is 1000 events.
MAX_BATCH_SIZE = 1000


@dataclass(frozen=True)
class ImportEvent:
    line: int
    stream_id: str
    version: int
    event: ProposedEvent


@dataclass(frozen=True)
class Batch:
    stream_id: str
    # The stream's version before this batch: the append's expected_version.
    expected_version: int
    events: tuple[ImportEvent, ...]
    idempotency_key: str

    @property
    def first_version(self) -> int:
        return self.expected_version + 1

    @property
    def last_version(self) -> int:
        return self.expected_version + len(self.events)


@dataclass
class ParsedInput:
    """The valid events by stream (in first-appearance order), and every bad line."""

    streams: dict[str, list[ImportEvent]] = field(default_factory=dict)
    errors: list[InputError] = field(default_factory=list)
    lines: int = 0

    @property
    def event_count(self) -> int:
        return sum(len(events) for events in self.streams.values())


def _occurred_at(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise InputError(where, OCCURRED_AT_KEY, "must be an ISO-8601 timestamp string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            where, OCCURRED_AT_KEY, f"is not an ISO-8601 timestamp: {value!r}"
        ) from None
    if parsed.tzinfo is None:
        raise InputError(where, OCCURRED_AT_KEY, "needs a time zone (e.g. 2021-03-04T09:00:00Z)")
    return parsed.astimezone(UTC).isoformat().replace("+00:00", "Z")


# Metadata key keeping the author a history line names (the event's user is the importer).
IMPORTED_USER_KEY = "imported_user_id"


def event_id_for(stream_id: str, version: int, content: Mapping[str, object]) -> str:
    """Deterministic: the same line at the same place of the same stream, the same id."""
    digest = hashlib.sha256(canonical_json(content)).hexdigest()
    return str(uuid.uuid5(IMPORT_NAMESPACE, f"{stream_id}\n{version}\n{digest}"))


def import_event(
    obj: Mapping[str, object], number: int, version_of: Mapping[str, int]
) -> ImportEvent:
    """One parsed JSONL line -> an event at the next version of its stream; InputError if bad.

    `version_of` maps each stream to the count of its valid events so far.
    """
    where = f"line {number}"
    stream_id = check_stream_id(obj.get("stream_id"), where)
    version = version_of.get(stream_id, 0) + 1
    event = parse_event(obj, where, LINE_FIELDS)
    metadata = dict(event.metadata)
    if obj.get(OCCURRED_AT_KEY) is not None:
        if OCCURRED_AT_KEY in metadata:
            raise InputError(where, OCCURRED_AT_KEY, "given both as a field and in metadata")
        metadata[OCCURRED_AT_KEY] = _occurred_at(obj[OCCURRED_AT_KEY], where)
    if event.user_id:
        if IMPORTED_USER_KEY in metadata:
            raise InputError(where, IMPORTED_USER_KEY, "given both as user_id and in metadata")
        metadata[IMPORTED_USER_KEY] = event.user_id
    return ImportEvent(
        line=number,
        stream_id=stream_id,
        version=version,
        event=replace(
            event,
            metadata=metadata,
            event_id=event.event_id or event_id_for(stream_id, version, obj),
        ),
    )


def parse_input(lines: Iterable[bytes]) -> ParsedInput:
    """Every line checked (all errors collected, not just the first); blank lines skipped.

    A bad line does not take a version: the import refuses to write anything while any
    line is bad, so the versions shown for the others are what a fixed file would get
    only if the bad line is removed (fixing it in place gives it that version back).
    """
    parsed = ParsedInput()
    counts: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        parsed.lines = number
        if not raw.strip():
            continue
        try:
            item = import_event(parse_json_line(raw, f"line {number}"), number, counts)
        except InputError as exc:
            parsed.errors.append(exc)
            continue
        counts[item.stream_id] = item.version
        parsed.streams.setdefault(item.stream_id, []).append(item)
    _check_unique_ids(parsed)
    return parsed


def _check_unique_ids(parsed: ParsedInput) -> None:
    seen: dict[str, int] = {}
    for events in parsed.streams.values():
        for item in events:
            first = seen.setdefault(item.event.event_id, item.line)
            if first != item.line:
                parsed.errors.append(
                    InputError(
                        f"line {item.line}", "event_id", f"repeats the event id of line {first}"
                    )
                )


def idempotency_key(stream_id: str, expected_version: int, events: Sequence[ImportEvent]) -> str:
    """Derived from the whole request, so a different batch never reuses a key."""
    parts: list[object] = [stream_id, expected_version]
    for item in events:
        e = item.event
        part: list[object] = [
            e.event_id,
            e.event_type,
            e.schema_version,
            e.data,
            dict(e.metadata),
            e.user_id,
            e.correlation_id,
            e.causation_id,
        ]
        if e.effective_at is not None:  # only when set: the keys of earlier imports stand
            part.append(e.effective_at.isoformat())
        parts.append(part)
    return "import-" + hashlib.sha256(canonical_json(parts)).hexdigest()[:48]


def plan_batches(
    stream_id: str, events: Sequence[ImportEvent], done: int, batch_size: int
) -> list[Batch]:
    """The batches still to append for one stream, after its first `done` events."""
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch size must be 1..{MAX_BATCH_SIZE}, got {batch_size}")
    batches = []
    for start in range(max(done, 0), len(events), batch_size):
        chunk = tuple(events[start : start + batch_size])
        batches.append(Batch(stream_id, start, chunk, idempotency_key(stream_id, start, chunk)))
    return batches


@dataclass(frozen=True)
class StreamPlan:
    stream_id: str
    events: int
    done: int
    batches: int


def summarize(
    parsed: ParsedInput, progress: Mapping[str, int], batch_size: int
) -> list[StreamPlan]:
    """Per stream: events in the file, already imported (per the state), batches left."""
    return [
        StreamPlan(
            stream_id,
            len(events),
            min(progress.get(stream_id, 0), len(events)),
            len(plan_batches(stream_id, events, progress.get(stream_id, 0), batch_size)),
        )
        for stream_id, events in parsed.streams.items()
    ]
