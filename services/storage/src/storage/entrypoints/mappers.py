"""Proto <-> domain conversions and page tokens for the servicer."""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from datetime import UTC, datetime, timedelta

from fundledger.storage.v1 import storage_pb2 as pb
from fundledger_platform.errors import InvalidArgument
from google.protobuf.timestamp_pb2 import Timestamp

from storage.domain.model import (
    FileRecord,
    Finding,
    FindingKind,
    ListScope,
    VerifyProgress,
    VerifySummary,
)

_FINDING_KINDS = {
    FindingKind.MISSING: pb.FINDING_KIND_MISSING,
    FindingKind.MISMATCHED: pb.FINDING_KIND_MISMATCHED,
    FindingKind.ORPHANED: pb.FINDING_KIND_ORPHANED,
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


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
        message.create_time.CopyFrom(timestamp(record.created_at))
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


# Page tokens are opaque: base64url of "f1:<scope hash>:<created_at µs>:<file id>".
# The scope hash makes a token from one listing unusable for another, which
# would otherwise silently skip or repeat files.


def _scope_tag(scope: ListScope) -> str:
    raw = f"{scope.owner_user_id}\x00{scope.entity_type}\x00{scope.entity_id}"
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def encode_token(scope: ListScope, last: FileRecord) -> str:
    assert last.created_at is not None
    micros = (last.created_at - _EPOCH) // timedelta(microseconds=1)
    raw = f"f1:{_scope_tag(scope)}:{micros}:{last.file_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str, scope: ListScope) -> tuple[datetime, uuid.UUID] | None:
    """The (created_at, file_id) cursor a token carries; None for the first page."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        tag, scope_tag, micros, file_id = raw.split(":")
        if tag != "f1" or scope_tag != _scope_tag(scope):
            raise ValueError(raw)
        return _EPOCH + timedelta(microseconds=int(micros)), uuid.UUID(file_id)
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError):
        raise InvalidArgument(
            "page_token is not a token this listing issued",
            reason="INVALID_PAGE_TOKEN",
            field="page_token",
        ) from None
