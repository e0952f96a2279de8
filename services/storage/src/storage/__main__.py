"""`python -m storage` serves; `python -m storage migrate [up | down N]` migrates."""

from __future__ import annotations

import sys

from fundledger_platform.cli import service_main
from fundledger_platform.server import serve_until_signal

from storage.bootstrap import build, migrate
from storage.config import Settings


def main(argv: list[str]) -> int:
    settings = Settings.from_env()

    async def serve() -> None:
        await migrate(settings.database_url)
        service = await build(settings)
        await serve_until_signal(service.server)

    return service_main(
        argv,
        module="storage",
        server=settings.server,
        migrate=lambda down_to: migrate(settings.database_url, down_to),
        serve=serve,
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
