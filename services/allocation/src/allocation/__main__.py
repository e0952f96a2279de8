"""`python -m allocation` serves; `python -m allocation migrate` is a no-op (no database)."""

from __future__ import annotations

import asyncio
import logging
import sys

from fundledger_platform.logs import configure_logging
from fundledger_platform.server import serve_until_signal

from allocation.bootstrap import build
from allocation.config import Settings

log = logging.getLogger(__name__)


async def _serve(settings: Settings) -> None:
    # Built inside the running loop: the gRPC channels belong to it.
    allocation = build(settings)
    await serve_until_signal(allocation.server)


def main(argv: list[str]) -> int:
    settings = Settings.from_env()
    configure_logging(settings.server.service_name, settings.server.log_level)
    if argv and argv[0] == "migrate":
        # Accepted so the local stack can treat every service alike; state lives in the log.
        log.info("allocation has no database: nothing to migrate")
        return 0
    if argv:
        print("usage: python -m allocation [migrate]", file=sys.stderr)
        return 2
    asyncio.run(_serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
