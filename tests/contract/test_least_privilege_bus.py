"""Least privilege on NATS (issue 10 §2b), from outside the session's whole stack: one user per
service, consumers pull and ack only their own durable through a private inbox, only the event
store publishes events, and the CLI's tool user only tails."""

from __future__ import annotations

import asyncio
import json
import uuid

import nats
import nats.errors
import pytest
from fundledger_cli.bus_tail import TailOptions, bus_user, tail
from fundledger_devstack.access import ACCESS, BUS_STREAM, BUS_SUBJECT_PREFIX, TOOL_USERS

from tests.contract.least_privilege_support import (
    WAIT_ROUNDS,
    WAIT_SECONDS,
    BusAs,
    append_fund,
    last_sequence,
)
from tests.support.full_stack import FullStack


async def test_a_client_without_credentials_is_refused(full_stack: FullStack) -> None:
    errors: list[str] = []

    async def on_error(err: Exception) -> None:
        errors.append(str(err))

    with pytest.raises(nats.errors.Error):
        await nats.connect(
            full_stack.endpoints["nats"],
            error_cb=on_error,
            allow_reconnect=False,
            connect_timeout=5,
        )
    assert any("authorization" in error.lower() for error in errors), errors


async def test_a_consumer_cannot_publish_events(full_stack: FullStack, bus_as: BusAs) -> None:
    connect = bus_as
    projector = await connect("projector")
    event_store = await connect("event-store")
    before = await last_sequence(event_store)

    subject = f"{BUS_SUBJECT_PREFIX}.fund.fund-least-privilege-{uuid.uuid4().hex}"
    await projector.client.publish(subject, b'{"forged": true}')
    assert await projector.refused("Permissions Violation for Publish")
    assert await last_sequence(event_store) == before


async def test_a_consumer_cannot_reach_another_consumers_inbox_or_consumer(
    bus_as: BusAs,
) -> None:
    connect = bus_as
    projector = await connect("projector")
    snapshotter_inbox = ACCESS["snapshotter"].bus
    assert snapshotter_inbox is not None

    await projector.client.subscribe(f"{snapshotter_inbox.inbox_prefix}.>")
    assert await projector.refused("Permissions Violation for Subscription")
    # Nor the event subjects themselves: a consumer reads through its own durable only.
    await projector.client.subscribe(f"{BUS_SUBJECT_PREFIX}.>")
    assert await projector.refused(f'Subscription to "{BUS_SUBJECT_PREFIX}.>"')
    for api in ("CONSUMER.MSG.NEXT", "CONSUMER.INFO", "CONSUMER.DELETE"):
        subject = f"$JS.API.{api}.{BUS_STREAM}.snapshotter"
        await projector.client.publish(subject, b"", reply=projector.client.new_inbox())
        assert await projector.refused(f'Publish to "{subject}"')


async def test_events_flow_from_the_event_store_through_each_consumers_own_user(
    full_stack: FullStack, bus_as: BusAs
) -> None:
    """An append through the API is published by the event store's user and pulled and acked
    by the projector's and the snapshotter's: each sees its own durable caught up."""
    connect = bus_as
    event_store = await connect("event-store")
    before = await last_sequence(event_store)

    await append_fund(full_stack)

    for _ in range(WAIT_ROUNDS):
        last = await last_sequence(event_store)
        if last > before:
            break
        await asyncio.sleep(WAIT_SECONDS)
    assert last > before, "the event store's relay did not publish"

    for service in ("projector", "snapshotter"):
        consumer = await connect(service)
        js = consumer.client.jetstream()
        for _ in range(WAIT_ROUNDS):
            info = await js.consumer_info(BUS_STREAM, service)
            if info.ack_floor is not None and (info.ack_floor.stream_seq or 0) >= last:
                break
            await asyncio.sleep(WAIT_SECONDS)
        assert info.ack_floor is not None, service
        assert (info.ack_floor.stream_seq or 0) >= last, service
        assert consumer.errors == [], consumer.errors


# -- what each process holds, and what the logs show ------------------------------------------


async def test_the_cli_tool_user_tails_but_cannot_publish_or_take_a_consumer(
    full_stack: FullStack, bus_as: BusAs
) -> None:
    # An event is on the stream whatever ran before: append one.
    await append_fund(full_stack)
    url = full_stack.endpoints["nats"]
    user = bus_user(url, full_stack.stack_dir)
    assert user is not None
    assert user.user == TOOL_USERS[0].user
    options = TailOptions(
        url=url,
        bus_stream=BUS_STREAM,
        subject=f"{BUS_SUBJECT_PREFIX}.>",
        from_start=True,
        count=1,
        seconds=30,
        connect_timeout=5,
        user=user,
    )
    assert await tail(options, lambda: None, lambda _event: None) == 1

    cli = await bus_as("cli")
    subject = f"{BUS_SUBJECT_PREFIX}.fund.fund-least-privilege-{uuid.uuid4().hex}"
    await cli.client.publish(subject, b"{}")
    assert await cli.refused(f'Publish to "{subject}"')
    for forbidden in (
        f"$JS.API.CONSUMER.CREATE.{BUS_STREAM}.projector.{BUS_SUBJECT_PREFIX}.fund.>",
        f"$JS.API.CONSUMER.DURABLE.CREATE.{BUS_STREAM}.projector",
        f"$JS.API.CONSUMER.MSG.NEXT.{BUS_STREAM}.projector",
    ):
        await cli.client.publish(forbidden, b"{}", reply=cli.client.new_inbox())
        assert await cli.refused(f'Publish to "{forbidden}"')
    # The one create subject it has makes unnamed consumers only: naming the projector's
    # durable in the request is refused by the server, so it cannot take that consumer over.
    for config in ({"durable_name": "projector"}, {"name": "projector"}):
        reply = await cli.client.request(
            f"$JS.API.CONSUMER.CREATE.{BUS_STREAM}",
            json.dumps({"stream_name": BUS_STREAM, "config": config}).encode(),
            timeout=10,
        )
        assert "error" in json.loads(reply.data), (config, reply.data)
