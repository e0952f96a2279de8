"""Caller-visible failures the use cases share."""

from __future__ import annotations

from uuid import UUID

from fundledger_platform.errors import DataLoss, DomainError, InvalidArgument, NotFound, Unavailable
from fundledger_platform.reasons import Reason


class AppendRejected(DomainError):
    """The event store refused the append for good: it wrote nothing.

    Built from the platform's mapping of a definite refusal
    (fundledger_platform.eventstore_errors.eventstore_error), whose status code, reason and
    metadata it keeps, so the caller sees what the store said. Its own type is what the use
    cases rely on: "rejected" means "definitely not written", so nothing needs compensating
    (see attach.py); any other failure of an append may have landed.
    """

    def __init__(self, refusal: DomainError, context: str = "") -> None:
        message = f"{context}: {refusal.message}" if context else refusal.message
        super().__init__(
            message, reason=refusal.reason, metadata=refusal.metadata, field=refusal.field
        )
        self.code = refusal.code


def object_store_unavailable(detail: str) -> Unavailable:
    return Unavailable(
        f"object storage call failed: {detail}",
        reason=Reason.OBJECT_STORE_UNAVAILABLE,
        metadata={"detail": detail},
    )


def file_not_found(file_id: UUID) -> NotFound:
    return NotFound(
        f"file {file_id} does not exist",
        reason=Reason.FILE_NOT_FOUND,
        metadata={"file_id": str(file_id)},
    )


def file_too_large(limit: int) -> InvalidArgument:
    return InvalidArgument(
        f"the file is larger than the limit of {limit} bytes",
        reason=Reason.FILE_TOO_LARGE,
        metadata={"max_file_bytes": str(limit)},
        field="chunk",
    )


def checksum_mismatch(expected: str, actual: str) -> InvalidArgument:
    return InvalidArgument(
        f"the content's SHA-256 is {actual}, not the expected {expected}",
        reason=Reason.CHECKSUM_MISMATCH,
        metadata={"expected_sha256": expected, "actual_sha256": actual},
        field="metadata.expected_sha256",
    )


def content_corrupted(file_id: UUID, detail: str) -> DataLoss:
    return DataLoss(
        f"file {file_id}: stored content does not match its record ({detail})",
        reason=Reason.CONTENT_MISMATCH,
        metadata={"file_id": str(file_id), "detail": detail},
    )


def object_missing(file_id: UUID, key: str) -> DataLoss:
    return DataLoss(
        f"file {file_id} is recorded but its object is missing",
        reason=Reason.OBJECT_MISSING,
        metadata={"file_id": str(file_id), "object_key": key},
    )
