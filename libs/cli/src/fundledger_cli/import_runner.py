"""Runs a bulk import plan against an event store, batch by batch, resumably."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from fundledger_cli.bulk_import import ImportEvent, ParsedInput, plan_batches
from fundledger_cli.errors import CliError, ExitCode
from fundledger_cli.import_state import ImportState


class VersionConflict(Exception):
    """The stream is not at the batch's expected version."""

    def __init__(self, stream_id: str, actual_version: int) -> None:
        super().__init__(stream_id, actual_version)
        self.stream_id = stream_id
        self.actual_version = actual_version


class ImportTarget(Protocol):
    def append(
        self, stream_id: str, expected_version: int, events: list[ImportEvent], idempotency_key: str
    ) -> bool:
        """Append one batch; True when it was already there (an idempotent replay).
        Raises VersionConflict when the stream is at another version."""
        ...

    def stored_event_ids(self, stream_id: str, last_version: int) -> list[str]:
        """The ids of versions 1..last_version of the stream."""
        ...


@dataclass
class ImportReport:
    streams: int = 0
    events: int = 0
    written_batches: int = 0
    written_events: int = 0
    # Already imported: skipped by the state file, or answered as a replay.
    skipped_events: int = 0
    replayed_batches: int = 0
    replayed_events: int = 0

    @property
    def already_imported(self) -> int:
        return self.skipped_events + self.replayed_events


def run_import(
    parsed: ParsedInput,
    target: ImportTarget,
    state: ImportState,
    batch_size: int,
    advance: Callable[[int], None] = lambda n: None,
) -> ImportReport:
    report = ImportReport(streams=len(parsed.streams), events=parsed.event_count)
    for stream_id, events in parsed.streams.items():
        done = min(state.done(stream_id), len(events))
        report.skipped_events += done
        advance(done)
        # Every pass either appends a batch or moves `done` forward after a conflict,
        # so the loop ends; the bound only guards against a target that lies.
        for _ in range(2 * len(events) + 2):
            batches = plan_batches(stream_id, events, done, batch_size)
            if not batches:
                break
            batch = batches[0]
            try:
                replayed = target.append(
                    stream_id, batch.expected_version, list(batch.events), batch.idempotency_key
                )
            except VersionConflict as conflict:
                done = _reconcile(target, stream_id, events, done, conflict.actual_version)
                state.record(stream_id, done)
                continue
            n = len(batch.events)
            if replayed:
                report.replayed_batches += 1
                report.replayed_events += n
            else:
                report.written_batches += 1
                report.written_events += n
            done = batch.last_version
            state.record(stream_id, done)
            advance(n)
        else:
            raise CliError(f"import of {stream_id} made no progress", ExitCode.FAILURE)
    return report


def _reconcile(
    target: ImportTarget, stream_id: str, events: list[ImportEvent], done: int, actual: int
) -> int:
    """The stream is at `actual`, not `done`: resume there if what it holds is ours.

    Happens when the state file is behind (a crash between an append and the checkpoint,
    with a different batch size on the re-run) or ahead of the stream. Anything else in
    the stream means it holds events this import did not write: stop, write nothing.
    """
    if actual == done or actual > len(events):
        raise _foreign(stream_id, actual, len(events))
    stored = target.stored_event_ids(stream_id, actual)
    ours = [e.event.event_id for e in events[:actual]]
    if stored != ours:
        pairs = enumerate(zip(stored, ours, strict=False))
        mismatch = next((i for i, (a, b) in pairs if a != b), min(len(stored), len(ours)))
        raise _foreign(stream_id, actual, len(events), mismatch + 1)
    return actual


def _foreign(stream_id: str, actual: int, planned: int, version: int | None = None) -> CliError:
    details = [
        f"the stream is at version {actual}; this import plans {planned} events for it",
        "bulk import fills new streams only; nothing more was written to this stream",
    ]
    if version is not None:
        details.insert(1, f"version {version} is not the event this import would write there")
    return CliError(
        f"{stream_id} holds events that this import did not write", ExitCode.CONFLICT, details
    )
