"""`python -m storage` serves; `python -m storage migrate [up | down N]` migrates."""

from __future__ import annotations

import sys

from fundledger_platform.cli import database_service_main

from storage.bootstrap import build, migrate
from storage.config import Settings


def main(argv: list[str]) -> int:
    return database_service_main(
        argv, module="storage", settings=Settings.from_env(), migrate=migrate, build=build
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
