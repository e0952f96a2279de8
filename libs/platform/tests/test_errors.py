"""DomainError -> google.rpc.Status, without a server."""

from __future__ import annotations

import grpc
import pytest
from fundledger_platform import errors
from fundledger_platform.errors import (
    ERROR_DOMAIN,
    BadRequest,
    DomainError,
    ErrorInfo,
    InvalidArgument,
    Reason,
    bad_request,
    error_info,
    to_status,
)
from google.rpc import status_pb2


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
        (errors.NotFound, grpc.StatusCode.NOT_FOUND),
        (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
        (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
        (errors.Aborted, grpc.StatusCode.ABORTED),
        (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
        (errors.DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
        (errors.DataLoss, grpc.StatusCode.DATA_LOSS),
        (errors.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    ],
)
def test_each_subclass_has_its_code(cls: type[DomainError], code: grpc.StatusCode) -> None:
    err = cls("message", reason=Reason.FIELD_REQUIRED)
    assert err.code == code
    assert isinstance(err, DomainError)
    assert to_status(err).code == code


def test_attributes_are_kept_and_metadata_copied() -> None:
    metadata = {"streamId": "fund-1"}
    err = InvalidArgument("bad", reason=Reason.FIELD_MALFORMED, metadata=metadata, field="name")
    metadata["streamId"] = "changed"
    assert (err.message, err.reason, err.field) == ("bad", "FIELD_MALFORMED", "name")
    assert err.metadata == {"streamId": "fund-1"}
    assert str(err) == "bad"


def _details(status: grpc.Status) -> status_pb2.Status:
    [(key, value)] = status.trailing_metadata
    assert key == "grpc-status-details-bin"
    return status_pb2.Status.FromString(value)


def test_status_holds_exactly_one_error_info_and_a_bad_request_for_a_field() -> None:
    status = to_status(
        InvalidArgument("bad", reason=Reason.FIELD_MALFORMED, metadata={"a": "1"}, field="f")
    )
    assert status.details == "bad"
    proto = _details(status)
    assert proto.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert proto.message == "bad"
    infos = [d for d in proto.details if d.Is(ErrorInfo.DESCRIPTOR)]
    requests = [d for d in proto.details if d.Is(BadRequest.DESCRIPTOR)]
    assert len(infos) == 1
    assert len(requests) == 1
    info = ErrorInfo()
    infos[0].Unpack(info)
    assert (info.reason, info.domain, dict(info.metadata)) == (
        "FIELD_MALFORMED",
        ERROR_DOMAIN,
        {"a": "1", "field": "f"},
    )


def test_no_field_no_bad_request() -> None:
    proto = _details(to_status(errors.Aborted("conflict", reason=Reason.WRONG_EXPECTED_VERSION)))
    assert len(proto.details) == 1


class _FakeRpcError(grpc.RpcError):
    """Shaped like grpc.aio.AioRpcError: the finished call's status, synchronously."""

    def __init__(self, status: grpc.Status, details: str | None = None) -> None:
        self._status = status
        self._details = status.details if details is None else details

    def code(self) -> grpc.StatusCode:
        return self._status.code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> object:
        return self._status.trailing_metadata


def test_client_helpers_parse_and_survive_inconsistent_trailers() -> None:
    status = to_status(InvalidArgument("bad", reason=Reason.FIELD_MALFORMED, field="f"))
    err = _FakeRpcError(status)
    info = error_info(err)
    assert info is not None
    assert info.reason == "FIELD_MALFORMED"
    request = bad_request(err)
    assert request is not None
    assert request.field_violations[0].field == "f"
    # A trailer whose message disagrees with the call's belongs to something else.
    assert error_info(_FakeRpcError(status, details="other")) is None
    assert error_info(grpc.RpcError()) is None
