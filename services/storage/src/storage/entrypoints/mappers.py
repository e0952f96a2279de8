"""Domain results -> responses: records, verification progress, and the next page's token."""

from __future__ import annotations

from fundledger.storage.v1 import storage_pb2 as pb
from fundledger_platform.pagination import encode_page_token
from fundledger_platform.timestamps import to_timestamp

from storage.domain.model import (
    FileRecord,
    Finding,
    FindingKind,
    ListScope,
    VerifyProgress,
    VerifySummary,
)
from storage.entrypoints.requests import FILES_PAGE, cursor_micros, scope_key

_FINDING_KINDS = {
    FindingKind.MISSING: pb.FINDING_KIND_MISSING,
    FindingKind.MISMATCHED: pb.FINDING_KIND_MISMATCHED,
    FindingKind.ORPHANED: pb.FINDING_KIND_ORPHANED,
}


def file_record(record: FileRecord) -> pb.FileRecord:
    message = pb.FileRecord(
        file_id=str(record.file_id),
        object_key=record.object_key,
        size_bytes=record.size,
        content_type=record.content_type,
        sha256=record.sha256,
        owner_user_id=record.owner_user_id,
        entity_type=record.entity_type,
        entity_id=record.entity_id,
        file_name=record.file_name,
    )
    if record.created_at is not None:
        message.create_time.CopyFrom(to_timestamp(record.created_at))
    return message


def finding(value: Finding) -> pb.VerifyFinding:
    return pb.VerifyFinding(
        kind=_FINDING_KINDS[value.kind],
        file_id=str(value.file_id) if value.file_id is not None else "",
        object_key=value.object_key,
        detail=value.detail,
    )


def verify_response(item: VerifyProgress | VerifySummary) -> pb.VerifyFilesResponse:
    if isinstance(item, VerifySummary):
        return pb.VerifyFilesResponse(
            checked=item.checked,
            total=item.total,
            done=True,
            missing=item.missing,
            mismatched=item.mismatched,
            orphaned=item.orphaned,
        )
    response = pb.VerifyFilesResponse(checked=item.checked, total=item.total)
    if item.finding is not None:
        response.finding.CopyFrom(finding(item.finding))
    return response


def next_page_token(scope: ListScope, last: FileRecord) -> str:
    """The token of the page after `last`, the last file of this one."""
    assert last.created_at is not None  # listed records come from the database
    cursor = [cursor_micros(last.created_at), last.file_id]
    return encode_page_token(FILES_PAGE, cursor, scope=scope_key(scope))
