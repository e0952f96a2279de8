"""`python -m storage` serves; `python -m storage migrate [up | down N]` migrates."""

from __future__ import annotations

import asyncio
import sys

from fundledger_platform.logs import configure_logging
from fundledger_platform.server import serve_until_signal
from fundledger_platform.telemetry import setup_telemetry

from storage.bootstrap import build, migrate
from storage.config import Settings


async def _serve(settings: Settings) -> None:
    await migrate(settings.database_url)
    storage = await build(settings)
    await serve_until_signal(storage.server)


def main(argv: list[str]) -> int:
    settings = Settings.from_env()
    configure_logging(settings.server.service_name, settings.server.log_level)
    if argv and argv[0] == "migrate":
        if len(argv) == 3 and argv[1] == "down":
            asyncio.run(migrate(settings.database_url, down_to=int(argv[2])))
        elif len(argv) == 1 or argv[1:] == ["up"]:
            asyncio.run(migrate(settings.database_url))
        else:
            print("usage: python -m storage migrate [up | down N]", file=sys.stderr)
            return 2
        return 0
    setup_telemetry(settings.server.service_name, settings.server.otlp_endpoint)
    asyncio.run(_serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
