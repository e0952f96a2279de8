"""What JetStream says about the fund services' durable consumers: messages delivered
against messages in the stream, and redeliveries (each costs the consumer a handler
call that the version check then skips)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import nats

CONNECT_SECONDS = 2.0


async def consumer_stats(url: str, stream: str, durables: Sequence[str]) -> dict[str, Any]:
    nc = await nats.connect(
        url, connect_timeout=CONNECT_SECONDS, allow_reconnect=False, max_reconnect_attempts=0
    )
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        found: dict[str, Any] = {"stream_messages": info.state.messages}
        for durable in durables:
            with contextlib.suppress(Exception):
                c = await js.consumer_info(stream, durable)
                found[durable] = {
                    "delivered": c.delivered.consumer_seq if c.delivered else None,
                    "stream_seq": c.delivered.stream_seq if c.delivered else None,
                    "redelivered": c.num_redelivered,
                    "ack_pending": c.num_ack_pending,
                    "pending": c.num_pending,
                }
        return found
    finally:
        await nc.close()
