"""Fixtures of the contract tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import nats.errors
import pytest
from fundledger_devstack.access import ACCESS, TOOL_USERS
from fundledger_devstack.credentials import StackCredentials
from fundledger_devstack.nats_auth import credential_name
from nats.aio.client import Client

from tests.contract.least_privilege_support import BusAs, BusUser
from tests.support.full_stack import FullStack


@pytest.fixture
async def bus_as(full_stack: FullStack) -> AsyncIterator[BusAs]:
    opened: list[Client] = []

    async def connect(service: str) -> BusUser:
        tools = {t.user: t for t in TOOL_USERS}
        grant = tools[service] if service in tools else ACCESS[service].bus
        assert grant is not None
        password = StackCredentials(full_stack.stack_dir).password(credential_name(grant.user))
        errors: list[str] = []

        async def on_error(err: Exception) -> None:
            errors.append(str(err))

        client = await nats.connect(
            full_stack.endpoints["nats"],
            user=grant.user,
            password=password,
            inbox_prefix=grant.inbox_prefix,
            error_cb=on_error,
            allow_reconnect=False,
        )
        opened.append(client)
        return BusUser(client, errors)

    yield connect
    for client in opened:
        await client.close()
