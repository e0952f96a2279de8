"""Recording an uploaded file: the row and FILE_ATTACHED, all or nothing.

Order, and why. The object is complete in the bucket before this runs. Then,
in ONE database transaction: insert the row, append FILE_ATTACHED to the
entity's stream, and only then commit. So:

- the append fails (store down, rejected): the transaction rolls back — no
  row — and the caller deletes the object: nothing of the upload is left;
- the row cannot be written (database down): nothing was appended yet;
- the append succeeds but the commit fails (connection lost at COMMIT), or the
  append's outcome is unknown (timeout, store unreachable after retries, the
  call cancelled): FILE_ATTACHED may be on the stream with no row behind it.
  We compensate by appending FILE_DETACHED (idempotency key `detach-<id>`):
  the fund fold removes the file id again, and a FILE_DETACHED for a file that
  was never attached is a no-op in the fold, so compensating on "unknown" is
  always safe. If even that append fails, the event stream keeps a dangling
  FILE_ATTACHED (logged with the file id; GetFileMetadata says NOT_FOUND).

The append is idempotent by file id (see domain.events), so the event-store
client may retry it freely inside the transaction, and a re-run for the same
record (a test does exactly that) returns a replay instead of a second event.
Only an AppendRejected (a definite refusal) is known to have written nothing.

The row is invisible to readers until the commit, and the transaction holds no
lock anyone else waits for (a fresh primary key), so keeping it open across
the append (bounded by the event-store client's timeouts) blocks nobody.
"""

from __future__ import annotations

import asyncio
import logging

from storage.domain.events import attach_event, detach_event, uploader_of
from storage.domain.model import FileRecord
from storage.service_layer.errors import AppendRejected
from storage.service_layer.ports import EventLog, FileRepository

log = logging.getLogger(__name__)


async def record_and_attach(
    files: FileRepository, events: EventLog, record: FileRecord
) -> FileRecord:
    append_attempted = False
    try:
        async with files.transaction() as tx:
            stored = await tx.insert(record)
            append_attempted = True
            await events.append(attach_event(stored))
    except BaseException as err:
        if append_attempted and not isinstance(err, AppendRejected):
            await _compensate(events, record)
        raise
    return stored


async def _compensate(events: EventLog, record: FileRecord) -> None:
    # Shielded: when the call was cancelled, the compensation must still run.
    try:
        await asyncio.shield(events.append(detach_event(record, uploader_of(record))))
        log.warning(
            "upload of %s failed after FILE_ATTACHED may have been appended to %s; "
            "appended FILE_DETACHED to compensate",
            record.file_id,
            record.stream_id,
            extra={"file_id": str(record.file_id), "stream_id": record.stream_id},
        )
    except BaseException:
        log.exception(
            "upload of %s failed and FILE_DETACHED could not be appended to %s: the stream "
            "may hold a FILE_ATTACHED without a file",
            record.file_id,
            record.stream_id,
            extra={"file_id": str(record.file_id), "stream_id": record.stream_id},
        )
