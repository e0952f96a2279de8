"""Domain results -> responses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fundledger.storage.v1 import storage_pb2 as pb
from storage.domain.model import (
    FileRecord,
    Finding,
    FindingKind,
    VerifyProgress,
    VerifySummary,
)
from storage.entrypoints.mappers import file_record, verify_response


def test_file_record_with_and_without_create_time() -> None:
    file_id = uuid.uuid4()
    record = FileRecord(
        file_id=file_id,
        object_key=f"users/alice/funds/f-1/{file_id}",
        size=0,
        content_type="application/octet-stream",
        sha256="e3" * 32,
        owner_user_id="alice",
        entity_type="fund",
        entity_id="f-1",
        file_name="README",
    )
    message = file_record(record)
    assert (message.file_id, message.size_bytes, message.file_name) == (str(file_id), 0, "README")
    assert not message.HasField("create_time")
    created_at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    stamped = file_record(FileRecord(**{**record.__dict__, "created_at": created_at}))
    assert stamped.create_time.ToDatetime(tzinfo=UTC) == created_at


def test_verify_responses() -> None:
    assert verify_response(VerifyProgress(2, 5)) == pb.VerifyFilesResponse(checked=2, total=5)
    file_id = uuid.uuid4()
    missing = Finding(FindingKind.MISSING, "users/a/funds/f/x", "gone", file_id)
    response = verify_response(VerifyProgress(3, 5, missing))
    assert response.finding == pb.VerifyFinding(
        kind=pb.FINDING_KIND_MISSING,
        file_id=str(file_id),
        object_key="users/a/funds/f/x",
        detail="gone",
    )
    orphan = verify_response(VerifyProgress(3, 5, Finding(FindingKind.ORPHANED, "k", "no record")))
    assert (orphan.finding.kind, orphan.finding.file_id) == (pb.FINDING_KIND_ORPHANED, "")
    summary = verify_response(VerifySummary(5, 5, missing=1, mismatched=2, orphaned=3))
    assert summary == pb.VerifyFilesResponse(
        checked=5, total=5, done=True, missing=1, mismatched=2, orphaned=3
    )
