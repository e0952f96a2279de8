"""`python -m eventstore` serves; `python -m eventstore migrate [up | down N]` migrates."""

from __future__ import annotations

import sys

from fundledger_platform.cli import database_service_main

from eventstore.bootstrap import build, migrate
from eventstore.config import Settings


def main(argv: list[str]) -> int:
    return database_service_main(
        argv, module="eventstore", settings=Settings.from_env(), migrate=migrate, build=build
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
