"""Caller-visible failures the use cases share."""

from __future__ import annotations

import grpc
from fundledger_platform.errors import DomainError, NotFound


class OutOfRange(DomainError):
    """A version past the fund's current one.

    OUT_OF_RANGE rather than INVALID_ARGUMENT or FAILED_PRECONDITION: the value
    is well-formed and becomes valid once the fund grows, and gRPC asks for the
    more specific OUT_OF_RANGE so that a caller walking versions can detect
    "past the end" by its code.
    """

    code = grpc.StatusCode.OUT_OF_RANGE


def fund_not_found(fund_id: str) -> NotFound:
    return NotFound(
        f"fund {fund_id} has no events", reason="FUND_NOT_FOUND", metadata={"fund_id": fund_id}
    )


def beyond_current(fund_id: str, field: str, asked: int, current: int) -> OutOfRange:
    return OutOfRange(
        f"{field} {asked} is beyond the current version {current} of {fund_id}",
        reason="VERSION_BEYOND_CURRENT",
        metadata={"fund_id": fund_id, "current_version": str(current), "asked": str(asked)},
        field=field,
    )
