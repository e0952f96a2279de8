"""The client side of authentication: where a caller's token comes from, and the interceptors
that send it as ``authorization: Bearer <token>`` on every call of a channel.

A service calling another (the projector, snapshotter, allocation and storage calling the event
store) reads its token from ``FUNDLEDGER_AUTH_TOKEN_FILE``: in Kubernetes a projected
ServiceAccount token, which the kubelet rewrites before it expires, so the file is read again
whenever it changes (never cached for the life of the process).

Acting for a person: while a person's call is being handled (``auth/forwarding.py``), every call
also carries that person's token in ``x-fundledger-subject-token``, so the callee applies the
person's permissions and tenant and records this service as the actor. Work with no person in
its context sends the service's token alone.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import grpc

from fundledger_platform.auth.forwarding import SUBJECT_TOKEN_HEADER, person_token
from fundledger_platform.settings import env_str

if TYPE_CHECKING:
    _UnaryUnaryBase = grpc.aio.UnaryUnaryClientInterceptor[Any, Any]
    _UnaryStreamBase = grpc.aio.UnaryStreamClientInterceptor[Any, Any]
    _StreamUnaryBase = grpc.aio.StreamUnaryClientInterceptor[Any, Any]
    _StreamStreamBase = grpc.aio.StreamStreamClientInterceptor[Any, Any]
else:  # not subscriptable at run time
    _UnaryUnaryBase = grpc.aio.UnaryUnaryClientInterceptor
    _UnaryStreamBase = grpc.aio.UnaryStreamClientInterceptor
    _StreamUnaryBase = grpc.aio.StreamUnaryClientInterceptor
    _StreamStreamBase = grpc.aio.StreamStreamClientInterceptor

__all__ = ["TokenSource", "bearer_interceptors", "client_token_source_from_env"]

logger = logging.getLogger(__name__)

MAX_TOKEN_FILE_BYTES = 64 * 1024


class TokenSource:
    """A bearer token: a fixed string, or a file re-read when it changes."""

    def __init__(
        self,
        *,
        token: str | None = None,
        path: Path | None = None,
        check_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (token is None) == (path is None):
            raise ValueError("give a token or a token file, not both")
        self._token = (token or "").strip()
        self._path = path
        self._check_seconds = check_seconds
        self._clock = clock
        self._signature: tuple[int, int, int] | None = None
        self._checked_at: float | None = None
        self._failing = False

    @classmethod
    def fixed(cls, token: str) -> TokenSource:
        return cls(token=token)

    @classmethod
    def from_file(cls, path: Path, *, check_seconds: float = 1.0) -> TokenSource:
        return cls(path=path, check_seconds=check_seconds)

    def token(self) -> str:
        """The current token; "" when a token file has never been readable."""
        if self._path is not None:
            now = self._clock()
            if self._checked_at is None or now - self._checked_at >= self._check_seconds:
                self._checked_at = now
                self._reload(self._path)
        return self._token

    def _reload(self, path: Path) -> None:
        try:
            stat = os.stat(path)
            signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            if signature == self._signature:
                return
            text = path.read_bytes()[:MAX_TOKEN_FILE_BYTES].decode("ascii").strip()
            if not text:
                raise ValueError("empty")
        except (OSError, ValueError) as err:
            if not self._failing:  # once per failure, not once per call
                logger.warning(
                    "token file %s unreadable (%s): %s",
                    path,
                    getattr(err, "strerror", None) or err,
                    "keeping the last token" if self._token else "calls go without a token",
                )
            self._failing = True
            return
        self._failing = False
        self._token = text
        self._signature = signature


def client_token_source_from_env() -> TokenSource | None:
    """The token this process sends to other services: FUNDLEDGER_AUTH_TOKEN_FILE, or None."""
    path = env_str("AUTH_TOKEN_FILE", "")
    return TokenSource.from_file(Path(path)) if path else None


def bearer_interceptors(source: TokenSource | None) -> list[grpc.aio.ClientInterceptor]:
    """grpc.aio client interceptors adding the token to every call (one per call kind, as
    grpc.aio files each interceptor under one kind only), and the token of the person whose call
    is being handled, if any, as the subject token; [] without a source."""
    if source is None:
        return []
    # grpc-stubs declare ClientInterceptor as a placeholder type: hence the cast.
    interceptors: list[Any] = [
        _UnaryUnary(source),
        _UnaryStream(source),
        _StreamUnary(source),
        _StreamStream(source),
    ]
    return cast(list[grpc.aio.ClientInterceptor], interceptors)


class _WithToken:
    def __init__(self, source: TokenSource) -> None:
        self._source = source

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        token = self._source.token()
        existing = list(details.metadata or ())
        if not token or any(key == "authorization" for key, _ in existing):
            return details  # nothing to send, or the caller chose its own credential
        added = [("authorization", f"Bearer {token}")]
        # The interceptor runs in the calling task's context: the person, if one's call is
        # being handled, is the one this call is made for.
        person = person_token()
        if person and not any(key == SUBJECT_TOKEN_HEADER for key, _ in existing):
            added.append((SUBJECT_TOKEN_HEADER, person))
        metadata = grpc.aio.Metadata(*existing, *added)
        return grpc.aio.ClientCallDetails(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            details.wait_for_ready,
        )


class _UnaryUnary(_WithToken, _UnaryUnaryBase):
    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._details(client_call_details), request)


class _UnaryStream(_WithToken, _UnaryStreamBase):
    async def intercept_unary_stream(
        self, continuation: Any, client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._details(client_call_details), request)


class _StreamUnary(_WithToken, _StreamUnaryBase):
    async def intercept_stream_unary(
        self,
        continuation: Any,
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return await continuation(self._details(client_call_details), request_iterator)


class _StreamStream(_WithToken, _StreamStreamBase):
    async def intercept_stream_stream(
        self,
        continuation: Any,
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return await continuation(self._details(client_call_details), request_iterator)
