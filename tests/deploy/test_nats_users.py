"""The manifests' NATS users on a real nats-server: the `auth.conf` of the nats-config ConfigMap
as rendered, with the passwords in the server's environment as the StatefulSet gives them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import nats
import nats.errors
import pytest
from fundledger_devstack.access import ACCESS, BUS_STREAM, BUS_SUBJECT_PREFIX
from fundledger_devstack.nats import NatsServer
from fundledger_devstack.ports import free_port
from nats.aio.client import Client
from nats.js.api import StreamConfig

from tests.deploy.k8s_access import bus_services, nats_password_env
from tests.deploy.manifest_support import of_kind, resources_of

# Bounded waits for an asynchronous refusal (never an assertion on how long it took).
WAIT_ROUNDS = 200
WAIT_SECONDS = 0.05


class User:
    def __init__(self, client: Client, errors: list[str]) -> None:
        self.client = client
        self.errors = errors

    async def refused(self, text: str) -> bool:
        # The error's case differs between nats-server versions ("Permissions Violation",
        # "permissions violation"): compare without it.
        for _ in range(WAIT_ROUNDS):
            if any(text.lower() in error.lower() for error in self.errors):
                return True
            await asyncio.sleep(WAIT_SECONDS)
        return False


Connect = Callable[[str], Awaitable[User]]


@pytest.fixture
async def bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[NatsServer]:
    data = of_kind(resources_of("base"), "ConfigMap")["nats-config"]["data"]
    (tmp_path / "auth.conf").write_text(data["auth.conf"])
    conf = tmp_path / "nats.conf"
    # The manifests' include line; ports, JetStream and the store come from NatsServer's flags.
    conf.write_text("include ./auth.conf\n")
    for grant in bus_services().values():
        monkeypatch.setenv(nats_password_env(grant.user), f"pw-{grant.user}")
    server = NatsServer(tmp_path / "store", free_port(), free_port(), config_file=conf)
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


@pytest.fixture
async def connect(bus: NatsServer) -> AsyncIterator[Connect]:
    opened: list[Client] = []

    async def as_service(service: str) -> User:
        grant = ACCESS[service].bus
        assert grant is not None
        errors: list[str] = []

        async def on_error(err: Exception) -> None:
            errors.append(str(err))

        client = await nats.connect(
            bus.url,
            user=grant.user,
            password=f"pw-{grant.user}",
            inbox_prefix=grant.inbox_prefix,
            error_cb=on_error,
            allow_reconnect=False,
        )
        opened.append(client)
        return User(client, errors)

    yield as_service
    for client in opened:
        await client.close()


async def test_a_client_without_credentials_is_refused(bus: NatsServer) -> None:
    errors: list[str] = []

    async def on_error(err: Exception) -> None:
        errors.append(str(err))

    with pytest.raises(nats.errors.Error):
        await nats.connect(bus.url, error_cb=on_error, allow_reconnect=False, connect_timeout=5)
    assert any("authorization" in error.lower() for error in errors), errors


async def test_only_the_event_store_publishes_and_a_consumer_pulls_its_own(
    connect: Connect,
) -> None:
    event_store = await connect("event-store")
    js = event_store.client.jetstream()
    await js.add_stream(StreamConfig(name=BUS_STREAM, subjects=[f"{BUS_SUBJECT_PREFIX}.>"]))
    await js.publish(f"{BUS_SUBJECT_PREFIX}.fund.f-1", b"{}")

    projector = await connect("projector")
    await projector.client.publish(f"{BUS_SUBJECT_PREFIX}.fund.f-2", b'{"forged": true}')
    assert await projector.refused("Permissions Violation for Publish")
    assert (await js.stream_info(BUS_STREAM)).state.last_seq == 1

    # Its own durable: create, pull, ack.
    pulled = await projector.client.jetstream().pull_subscribe(
        f"{BUS_SUBJECT_PREFIX}.>", durable="projector", stream=BUS_STREAM
    )
    (message,) = await pulled.fetch(1, timeout=10)
    assert message.subject == f"{BUS_SUBJECT_PREFIX}.fund.f-1"
    await message.ack()
    # ... but not the snapshotter's durable, nor the event subjects directly.
    await projector.client.subscribe(f"{BUS_SUBJECT_PREFIX}.>")
    assert await projector.refused("Permissions Violation for Subscription")
    subject = f"$JS.API.CONSUMER.INFO.{BUS_STREAM}.snapshotter"
    await projector.client.publish(subject, b"", reply=projector.client.new_inbox())
    assert await projector.refused(f'Publish to "{subject}"')
