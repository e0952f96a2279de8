"""A thin async client of the event store for the other services.

Services never read the event store's tables: they call its gRPC API, with
trace context propagated by the client interceptors, over TLS when the service's
``TlsSettings`` name a CA (the channel is made anew when the certificate files change).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

import grpc
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger.eventstore.v1 import eventstore_pb2_grpc
from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fundledger_platform.auth.client import (
    TokenSource,
    bearer_interceptors,
    client_token_source_from_env,
)
from fundledger_platform.eventstore_errors import UNKNOWN_OUTCOME
from fundledger_platform.settings import TlsSettings
from fundledger_platform.telemetry import client_interceptors
from fundledger_platform.tls import ReloadingChannel

# An idempotent append whose outcome is unknown is sent again, after pauses growing from the
# first to the longest, until this much time has passed since the first attempt: long enough
# for an event-store restart or a PostgreSQL primary switchover (seconds to tens of seconds,
# docs/operations.md), bounded so a caller holding a transaction open knows its worst case:
# ``append_worst_seconds``.
APPEND_RETRY_SECONDS = 30.0
APPEND_RETRY_FIRST_PAUSE = 0.1
APPEND_RETRY_LONGEST_PAUSE = 2.0


def append_worst_seconds(timeout_seconds: float, retry_seconds: float) -> float:
    """The longest ``EventStoreClient.append`` can take: a last attempt may start just before
    the retry time is up and run its whole timeout."""
    return retry_seconds + timeout_seconds


def is_idempotent(request: pb.AppendToStreamRequest) -> bool:
    """Whether sending `request` twice appends once: it has an idempotency key, or every event
    has an id (the store answers a repeat of stored ids at the same expectation as a replay)."""
    return bool(request.idempotency_key) or (
        len(request.events) > 0 and all(event.event_id for event in request.events)
    )


def _eventstore_stub(channel: grpc.aio.Channel) -> eventstore_pb2_grpc.EventStoreServiceAsyncStub:
    return eventstore_pb2_grpc.EventStoreServiceStub(channel)


class EventStoreClient:
    """``token``: the bearer token sent on every call; by default the service's own identity
    from FUNDLEDGER_AUTH_TOKEN_FILE when that is set (no token otherwise)."""

    def __init__(
        self,
        target: str,
        *,
        timeout_seconds: float = 30.0,
        tls: TlsSettings | None = None,
        token: TokenSource | None = None,
        append_retry_seconds: float = APPEND_RETRY_SECONDS,
    ) -> None:
        self._append_retry_seconds = append_retry_seconds
        self._channel = ReloadingChannel(
            target,
            tls,
            interceptors=[
                *client_interceptors(),
                *bearer_interceptors(token or client_token_source_from_env()),
            ],
            options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)],
            # A replaced channel's calls may finish: ReadAll has the longest deadline.
            retire_grace_seconds=timeout_seconds * 10,
        )
        self._timeout = timeout_seconds

    @property
    def stub(self) -> eventstore_pb2_grpc.EventStoreServiceAsyncStub:
        """The stub for the next call (on a new channel after a certificate rotation)."""
        return self._channel.stub(_eventstore_stub)

    async def close(self) -> None:
        await self._channel.close()

    async def stream_info(self, stream_id: str) -> pb.GetStreamInfoResponse | None:
        """None when the stream does not exist."""
        try:
            response: pb.GetStreamInfoResponse = await self.stub.GetStreamInfo(
                pb.GetStreamInfoRequest(stream_id=stream_id), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return response

    async def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        max_count: int = 0,
        max_recorded_at: datetime | None = None,
        backwards: bool = False,
    ) -> list[RecordedEvent]:
        """Events of one stream; [] when the stream does not exist."""
        # The server's default page (up to 1000 events, ~1 MiB): one message per page costs
        # about what one event alone would, so reads are several times cheaper than one by one.
        request = pb.ReadStreamRequest(
            stream_id=stream_id,
            max_count=max_count,
            direction=pb.READ_DIRECTION_BACKWARDS if backwards else pb.READ_DIRECTION_FORWARDS,
        )
        if from_version is not None:
            request.from_version = from_version
        if max_recorded_at is not None:
            request.max_recorded_at.FromDatetime(max_recorded_at)
        try:
            return [
                event
                async for page in self.stub.ReadStream(request, timeout=self._timeout)
                for event in page.events
            ]
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return []
            raise

    async def read_all(
        self,
        *,
        from_position: int,
        categories: Sequence[str] = (),
        max_count: int = 0,
    ) -> AsyncIterator[RecordedEvent]:
        request = pb.ReadAllRequest(
            from_position=from_position, categories=list(categories), max_count=max_count
        )
        async for page in self.stub.ReadAll(request, timeout=self._timeout * 10):
            for event in page.events:
                yield event

    async def head_position(self) -> int:
        """The log's head position (via Subscribe's caught-up marker: a subscription from now
        on sends no page before it)."""
        call = self.stub.Subscribe(pb.SubscribeRequest(), timeout=self._timeout)
        try:
            async for message in call:
                if message.WhichOneof("content") == "caught_up":
                    return int(message.caught_up.position)
        finally:
            call.cancel()
        return 0

    async def append(self, request: pb.AppendToStreamRequest) -> pb.AppendToStreamResponse:
        """Append; an idempotent request whose outcome is unknown (UNAVAILABLE, a deadline, a
        broken connection) is sent again, since a repeat that finds the first one landed is
        answered as a replay. Any other request is sent once: a repeat could append twice.
        The repeats stop when the client's append retry time is up (the last error is raised)."""
        retry_until = time.monotonic() + (
            self._append_retry_seconds if is_idempotent(request) else 0.0
        )
        pause = APPEND_RETRY_FIRST_PAUSE
        while True:
            try:
                response: pb.AppendToStreamResponse = await self.stub.AppendToStream(
                    request, timeout=self._timeout
                )
            except grpc.aio.AioRpcError as err:
                if err.code() not in UNKNOWN_OUTCOME or time.monotonic() + pause >= retry_until:
                    raise
                await asyncio.sleep(pause)
                pause = min(pause * 2, APPEND_RETRY_LONGEST_PAUSE)
            else:
                return response


EVENTSTORE_SERVICE = pb.DESCRIPTOR.services_by_name["EventStoreService"].full_name


class EventStoreProbe:
    """Is the event store ready? For the readiness of services that need it.

    Asks the event store's own standard health service, which is SERVING only
    while the store's database and bus are up.
    """

    def __init__(
        self,
        target: str,
        timeout_seconds: float = 1.0,
        *,
        tls: TlsSettings | None = None,
        token: TokenSource | None = None,
    ) -> None:
        # Health is open without a token; it is sent anyway, like on every call to the store.
        self._channel = ReloadingChannel(
            target,
            tls,
            interceptors=bearer_interceptors(token or client_token_source_from_env()),
            retire_grace_seconds=timeout_seconds,
        )
        self._timeout = timeout_seconds

    async def ready(self) -> bool:
        try:
            response = await self._channel.stub(health_pb2_grpc.HealthStub).Check(
                health_pb2.HealthCheckRequest(service=EVENTSTORE_SERVICE), timeout=self._timeout
            )
        except grpc.aio.AioRpcError:
            return False
        return bool(response.status == health_pb2.HealthCheckResponse.SERVING)

    async def close(self) -> None:
        await self._channel.close()
