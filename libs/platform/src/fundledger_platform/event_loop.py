"""The event loop a FundLedger process runs on, decided and created in this one place.

uvloop (libuv's loop) by default: it measured ~1.4x the default loop's calls per second
for a bare gRPC echo on the bench machine, and grpc.aio, asyncpg and nats-py all run on
it. ``FUNDLEDGER_EVENT_LOOP=asyncio`` (ServerSettings.event_loop) falls back to asyncio's
own loop, to rule the loop out when chasing a problem.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import uvloop

from fundledger_platform.settings import ASYNCIO_LOOP, UVLOOP

T = TypeVar("T")

_log = logging.getLogger(__name__)

# None: asyncio.Runner's default, the loop asyncio.run would create.
_FACTORIES: dict[str, Callable[[], asyncio.AbstractEventLoop] | None] = {
    UVLOOP: uvloop.new_event_loop,
    ASYNCIO_LOOP: None,
}


def run_on_event_loop(main: Coroutine[Any, Any, T], event_loop: str) -> T:
    """asyncio.run(main) on the loop named by ``event_loop`` (a checked setting).

    The loop's class is logged once it runs, so a service's first lines say which
    loop it is really on, whatever the setting claimed.
    """
    if event_loop not in _FACTORIES:  # settings check it; this is for hand-built ones
        main.close()
        raise ValueError(f"unknown event loop {event_loop!r}: one of {', '.join(_FACTORIES)}")
    with asyncio.Runner(loop_factory=_FACTORIES[event_loop]) as runner:
        return runner.run(_logged(main, event_loop))


async def _logged(main: Coroutine[Any, Any, T], event_loop: str) -> T:
    loop_type = type(asyncio.get_running_loop())
    _log.info(
        "event loop %s",
        event_loop,
        extra={
            "event_loop": event_loop,
            "event_loop_class": f"{loop_type.__module__}.{loop_type.__qualname__}",
        },
    )
    return await main
