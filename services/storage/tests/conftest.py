"""Fixtures: a real event store, a real storage service on a bucket of its own (SeaweedFS),
both run as the local stack runs them: TLS, bearer tokens, the repository's policy file."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import replace
from typing import Any

import grpc
import pytest
from fundledger.eventstore.v1 import eventstore_pb2_grpc
from fundledger.storage.v1 import storage_pb2_grpc
from fundledger_devstack.s3 import S3Server
from storage.adapters.s3_client import open_client
from storage.bootstrap import Storage, build, migrate
from storage_stack import Stack, StackFactory, storage_settings

from tests.support.event_store import EventStoreFactory
from tests.support.secure import SecureEnv

# Downloads in the tests go up to 32 MiB in 3 MiB chunks; the default limit is 4 MiB.
_CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 16 * 1024 * 1024)]


@pytest.fixture
async def stack_factory(
    fresh_dsn: str,
    s3_server: S3Server,
    event_store_factory: EventStoreFactory,
    secure_env: SecureEnv,
) -> AsyncIterator[StackFactory]:
    """Starts the event store once, then storage services on demand (Settings overrides,
    plus `events=` to replace the event log); stops them before the store goes away."""
    store = await event_store_factory()  # secure: TLS, authentication, the policy
    await migrate(fresh_dsn)
    bucket = f"t-{uuid.uuid4().hex[:16]}"
    base = storage_settings(
        fresh_dsn,
        f"127.0.0.1:{store.server.port}",
        s3_server.endpoint,
        s3_server.region,
        bucket,
    )
    base = replace(base, server=secure_env.server_settings(base.server))
    resources = AsyncExitStack()
    raw_s3 = await open_client(base.s3, resources)
    # The tests read the store as an admin of tenant "dev", like the storage calls' default.
    store_channel = secure_env.channel(f"127.0.0.1:{store.server.port}")
    started: list[Storage] = []
    channels = [store_channel]

    def connect(address: str, token: str | None) -> Any:
        channel = grpc.aio.secure_channel(
            address, secure_env.credentials(token), options=_CHANNEL_OPTIONS
        )
        channels.append(channel)
        return storage_pb2_grpc.StorageServiceStub(channel)

    async def start(*, events: Any = None, **overrides: Any) -> Stack:
        settings = replace(base, **overrides)
        storage = await build(settings, events=events, token=secure_env.service_token("storage"))
        await storage.server.start()
        started.append(storage)
        address = f"127.0.0.1:{storage.server.port}"
        return Stack(
            storage=storage,
            api=connect(address, secure_env.token()),
            store_stub=eventstore_pb2_grpc.EventStoreServiceStub(store_channel),
            s3=raw_s3,
            bucket=settings.s3.bucket,
            dsn=fresh_dsn,
            settings=settings,
            secure=secure_env,
            address=address,
            _connect=connect,
        )

    yield start
    for channel in channels:
        await channel.close(None)
    for storage in reversed(started):
        await storage.server.stop(1.0)
    await resources.aclose()


@pytest.fixture
async def stack(stack_factory: StackFactory) -> Stack:
    return await stack_factory()
