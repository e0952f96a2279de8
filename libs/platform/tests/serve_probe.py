"""A probe service run as its own process, for the SIGTERM test: python serve_probe.py."""

from __future__ import annotations

import asyncio
import logging

from fundledger_platform.server import build_server, serve_until_signal
from platform_probe import PROBE_SERVICE, Probe, probe_settings


async def main() -> None:
    probe = Probe()

    async def close_resources() -> None:
        logging.getLogger("serve_probe").info("resources closed")

    server = build_server(
        probe_settings(grace=5.0),
        register=probe.register,
        service_names=[PROBE_SERVICE],
        on_shutdown=[close_resources],
    )
    await serve_until_signal(server)


if __name__ == "__main__":
    asyncio.run(main())
