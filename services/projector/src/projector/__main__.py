"""`python -m projector` serves; `python -m projector migrate [up | down N]` migrates."""

from __future__ import annotations

import sys

from fundledger_platform.cli import database_service_main

from projector.bootstrap import build, migrate
from projector.config import Settings


def main(argv: list[str]) -> int:
    return database_service_main(
        argv, module="projector", settings=Settings.from_env(), migrate=migrate, build=build
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
