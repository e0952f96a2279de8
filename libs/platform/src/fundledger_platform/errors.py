"""Domain errors and their ``google.rpc.Status`` form (Google AIP-193).

Servicers raise a :class:`DomainError`; one interceptor turns it into a status
with exactly one ``google.rpc.ErrorInfo`` (machine-readable ``reason`` in our
``domain`` plus ``metadata``) and, for a bad field, a ``google.rpc.BadRequest``.
Callers branch on ``reason``, never on the human-readable message. Every reason comes from
the registry in :mod:`fundledger_platform.reasons` (documented in docs/errors.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import grpc
from google.protobuf import any_pb2
from google.rpc import status_pb2
from google.rpc.error_details_pb2 import BadRequest, ErrorInfo
from grpc_status import rpc_status

from fundledger_platform.reasons import Reason

ERROR_DOMAIN = "fundledger.io"

__all__ = [
    "ERROR_DOMAIN",
    "Aborted",
    "AlreadyExists",
    "BadRequest",
    "DataLoss",
    "DeadlineExceeded",
    "DomainError",
    "ErrorInfo",
    "FailedPrecondition",
    "InvalidArgument",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "Reason",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
    "bad_request",
    "error_info",
    "to_status",
]


class DomainError(Exception):
    """A caller-visible failure with a stable, registered ``reason``.

    Subclass one of the concrete classes below to pick the status code; the
    base class maps to UNKNOWN, which AIP-193 reserves for "we do not know".
    """

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        reason: Reason,
        metadata: Mapping[str, str] | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        # Reason(...) refuses a string that is not registered, also when a reason is forwarded
        # from another service's ErrorInfo (see eventstore_errors.py).
        self.reason = Reason(reason)
        # Copied so a caller mutating its dict later cannot change a raised error.
        self.metadata: dict[str, str] = {str(k): str(v) for k, v in (metadata or {}).items()}
        self.field = field

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, reason={self.reason!r})"


class InvalidArgument(DomainError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(DomainError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Aborted(DomainError):
    code = grpc.StatusCode.ABORTED


class Unavailable(DomainError):
    code = grpc.StatusCode.UNAVAILABLE


class OutOfRange(DomainError):
    code = grpc.StatusCode.OUT_OF_RANGE


class DeadlineExceeded(DomainError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class DataLoss(DomainError):
    code = grpc.StatusCode.DATA_LOSS


class ResourceExhausted(DomainError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(DomainError):
    """No verifiable credential: the caller's identity could not be established."""

    code = grpc.StatusCode.UNAUTHENTICATED


def _packed(message: ErrorInfo | BadRequest) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def to_status(err: DomainError) -> grpc.Status:
    """The ``grpc.Status`` to abort with: code, message, and the rich details trailer."""
    metadata = dict(err.metadata)
    details = []
    if err.field is not None:
        metadata["field"] = err.field
    details.append(
        _packed(ErrorInfo(reason=err.reason.value, domain=ERROR_DOMAIN, metadata=metadata))
    )
    if err.field is not None:
        violation = BadRequest.FieldViolation(field=err.field, description=err.message)
        details.append(_packed(BadRequest(field_violations=[violation])))
    proto = status_pb2.Status(code=err.code.value[0], message=err.message, details=details)
    status: grpc.Status = rpc_status.to_status(proto)
    return status


def _rich_status(err: grpc.RpcError) -> status_pb2.Status | None:
    # ``from_call`` only calls code(), details() and trailing_metadata(), which
    # grpc.aio.AioRpcError offers synchronously (the exception carries the
    # finished call's status), so the sync helper works for aio errors too.
    # It raises ValueError when the trailer disagrees with the call's status —
    # then the details belong to something else and we report none.
    if not all(hasattr(err, name) for name in ("code", "details", "trailing_metadata")):
        return None
    try:
        status: status_pb2.Status | None = rpc_status.from_call(cast(grpc.Call, err))
    except ValueError:
        return None
    return status


def error_info(err: grpc.RpcError) -> ErrorInfo | None:
    """The ``ErrorInfo`` a FundLedger server attached to a failed call, if any."""
    status = _rich_status(err)
    if status is None:
        return None
    for detail in status.details:
        if detail.Is(ErrorInfo.DESCRIPTOR):
            info = ErrorInfo()
            detail.Unpack(info)
            return info
    return None


def bad_request(err: grpc.RpcError) -> BadRequest | None:
    """The ``BadRequest`` (field violations) attached to a failed call, if any."""
    status = _rich_status(err)
    if status is None:
        return None
    for detail in status.details:
        if detail.Is(BadRequest.DESCRIPTOR):
            request = BadRequest()
            detail.Unpack(request)
            return request
    return None
