"""The ErrorInfo of a failed call, for tests that assert reasons and their metadata."""

from __future__ import annotations

import grpc
from fundledger_platform.errors import error_info


def reason_of(err: grpc.aio.AioRpcError) -> str:
    info = error_info(err)
    assert info is not None, f"no ErrorInfo in {err}"
    return str(info.reason)


def metadata_of(err: grpc.aio.AioRpcError) -> dict[str, str]:
    info = error_info(err)
    assert info is not None, f"no ErrorInfo in {err}"
    return dict(info.metadata)
