"""`python -m allocation` serves. `migrate` is accepted and does nothing: the
service keeps no database (its state is folded from the log), and the local
stack treats every service alike."""

from __future__ import annotations

import sys

from fundledger_platform.cli import service_main
from fundledger_platform.server import serve_until_signal

from allocation.bootstrap import build
from allocation.config import Settings


def main(argv: list[str]) -> int:
    settings = Settings.from_env()

    async def serve() -> None:
        # Built inside the running loop: the gRPC channels belong to it.
        allocation = build(settings)
        await serve_until_signal(allocation.server)

    return service_main(
        argv, module="allocation", server=settings.server, migrate=None, serve=serve
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
