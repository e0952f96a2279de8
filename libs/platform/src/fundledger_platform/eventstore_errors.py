"""What a failed event-store call means to the service that made it, decided once.

- A definite refusal (INVALID_ARGUMENT, FAILED_PRECONDITION, ALREADY_EXISTS, OUT_OF_RANGE,
  ABORTED, NOT_FOUND, PERMISSION_DENIED) is forwarded with the store's code and registered
  reason: "refused" means nothing was written. NOT_FOUND and PERMISSION_DENIED are the store's
  answers to the person a service acts for (another tenant's stream does not exist for them; their
  roles lack the category), so they are theirs to see. A use case that knows what version it
  expected may handle ABORTED itself first (`actual_version`).
- Anything else is our dependency failing: UNAVAILABLE with EVENT_STORE_UNAVAILABLE and the
  store's code in the details — retryable, never the INTERNAL an escaping RpcError would become.
"""

from __future__ import annotations

import grpc

from fundledger_platform.errors import (
    Aborted,
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OutOfRange,
    PermissionDenied,
    Unavailable,
    error_info,
)
from fundledger_platform.reasons import Reason

_REFUSALS: dict[grpc.StatusCode, type[DomainError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.OUT_OF_RANGE: OutOfRange,
    grpc.StatusCode.ABORTED: Aborted,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
}

# After these the call may or may not have taken effect.
UNKNOWN_OUTCOME = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)


def eventstore_unavailable(err: grpc.aio.AioRpcError) -> Unavailable:
    code = err.code()
    return Unavailable(
        f"event store call failed: {code.name} {err.details()}",
        reason=Reason.EVENT_STORE_UNAVAILABLE,
        metadata={"eventstore_code": code.name},
    )


def actual_version(err: grpc.aio.AioRpcError) -> int | None:
    """The stream's version an ABORTED append reported, when it did."""
    info = error_info(err)
    actual = info.metadata.get("actual_version") if info is not None else None
    return int(actual) if actual and actual.isdigit() else None


def eventstore_error(err: grpc.aio.AioRpcError) -> DomainError:
    """The caller-visible error for a failed event-store call."""
    code = err.code()
    refusal = _REFUSALS.get(code)
    if refusal is None:
        return eventstore_unavailable(err)
    info = error_info(err)
    reason = Reason.EVENT_STORE_REJECTED
    if info is not None and info.reason in Reason.__members__:
        reason = Reason(info.reason)
    metadata = dict(info.metadata) if info is not None else {}
    metadata.setdefault("eventstore_code", code.name)
    return refusal(
        f"the event store refused the call: {err.details()}", reason=reason, metadata=metadata
    )
