"""DeleteFile: flag the record, record FILE_DETACHED, then remove the object.

Order, and why. The record is soft-deleted and FILE_DETACHED appended inside
one transaction that commits only after the append succeeded, so a failed
append changes nothing. The row lock taken by the UPDATE serialises two
concurrent deletes of one file: the second finds the row already deleted and
answers NOT_FOUND, so only one FILE_DETACHED is ever appended (its
idempotency key `detach-<id>` would make a second one a replay anyway).

The object goes last, after the commit: deleting it first would leave a live
record without an object if the commit then failed. If the object delete
fails, the object stays without a live record — VerifyFiles reports it as
ORPHANED — but no reader can reach it through the service any more.

Who may delete: the file must be in the caller's tenant and, unless the caller may act for
others, their own (service_layer.access); otherwise it is NOT_FOUND and nothing changes.

If the commit fails after the append, the stream says detached while the
record is still live; the caller's retry (same file, same user) re-sends the
same append, which the store answers as a replay, and commits.
"""

from __future__ import annotations

import logging
from uuid import UUID

from storage.domain.events import detach_event
from storage.domain.model import FileRecord
from storage.service_layer.access import event_user, owner_limit
from storage.service_layer.errors import file_not_found
from storage.service_layer.ports import EventLog, FileRepository, ObjectStore

log = logging.getLogger(__name__)


async def delete_file(
    files: FileRepository, events: EventLog, objects: ObjectStore, file_id: UUID, user_id: str
) -> FileRecord:
    """`user_id`: the request's (already checked against the caller, access.named_user); the
    event names the verified caller whenever there is one."""
    async with files.transaction() as tx:
        # Another tenant's file, or another user's for a person who may not act for others,
        # matches nothing: NOT_FOUND, like a missing file.
        record = await tx.mark_deleted(file_id, owner_limit())
        if record is None:
            raise file_not_found(file_id)
        await events.append(detach_event(record, event_user(user_id or record.owner_user_id)))
    try:
        await objects.delete(record.object_key)
    except Exception:
        log.exception(
            "file %s deleted but its object could not be removed (now an orphan)",
            file_id,
            extra={"file_id": str(file_id), "object_key": record.object_key},
        )
    return record
