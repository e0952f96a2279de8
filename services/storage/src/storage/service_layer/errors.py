"""Caller-visible failures the use cases share."""

from __future__ import annotations

from uuid import UUID

import grpc
from fundledger_platform.errors import DataLoss, DomainError, InvalidArgument, NotFound, Unavailable


class AppendRejected(DomainError):
    """The event store refused the append for good (it wrote nothing).

    Carries the store's own status code and reason, so the caller sees what
    the store said rather than a generic INTERNAL; the use cases rely on
    "rejected" meaning "definitely not written" (see attach.py).
    """

    def __init__(self, code: grpc.StatusCode, message: str, *, reason: str) -> None:
        super().__init__(message, reason=reason, metadata={"eventstore_code": code.name})
        self.code = code


def eventstore_unavailable(detail: str) -> Unavailable:
    # The outcome of the append is unknown: it may or may not have landed.
    return Unavailable(
        f"event store call failed: {detail}",
        reason="EVENTSTORE_UNAVAILABLE",
        metadata={"detail": detail},
    )


def object_store_unavailable(detail: str) -> Unavailable:
    return Unavailable(
        f"object storage call failed: {detail}",
        reason="OBJECT_STORE_UNAVAILABLE",
        metadata={"detail": detail},
    )


def file_not_found(file_id: UUID) -> NotFound:
    return NotFound(
        f"file {file_id} does not exist",
        reason="FILE_NOT_FOUND",
        metadata={"file_id": str(file_id)},
    )


def file_too_large(limit: int) -> InvalidArgument:
    return InvalidArgument(
        f"the file is larger than the limit of {limit} bytes",
        reason="FILE_TOO_LARGE",
        metadata={"max_file_bytes": str(limit)},
        field="chunk",
    )


def checksum_mismatch(expected: str, actual: str) -> InvalidArgument:
    return InvalidArgument(
        f"the content's SHA-256 is {actual}, not the expected {expected}",
        reason="CHECKSUM_MISMATCH",
        metadata={"expected_sha256": expected, "actual_sha256": actual},
        field="metadata.expected_sha256",
    )


def content_corrupted(file_id: UUID, detail: str) -> DataLoss:
    return DataLoss(
        f"file {file_id}: stored content does not match its record ({detail})",
        reason="CONTENT_MISMATCH",
        metadata={"file_id": str(file_id), "detail": detail},
    )


def object_missing(file_id: UUID, key: str) -> DataLoss:
    return DataLoss(
        f"file {file_id} is recorded but its object is missing",
        reason="OBJECT_MISSING",
        metadata={"file_id": str(file_id), "object_key": key},
    )
