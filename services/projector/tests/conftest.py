"""Fixtures of the projector tests (see projector_stack.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from projector_stack import Stack, start_stack

from tests.support.event_store import EventStoreFactory
from tests.support.secure import SecureEnv


@pytest.fixture
async def stack(
    event_store_factory: EventStoreFactory, secure_env: SecureEnv, fresh_dsn: str, nats_server: Any
) -> AsyncIterator[Stack]:
    started = await start_stack(event_store_factory, secure_env, fresh_dsn, nats_server.url)
    try:
        yield started
    finally:
        await started.close()
