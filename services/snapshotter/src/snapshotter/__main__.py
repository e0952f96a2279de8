"""`python -m snapshotter` serves; `python -m snapshotter migrate [up | down N]` migrates."""

from __future__ import annotations

import sys

from fundledger_platform.cli import database_service_main

from snapshotter.bootstrap import build, migrate
from snapshotter.config import Settings


def main(argv: list[str]) -> int:
    return database_service_main(
        argv, module="snapshotter", settings=Settings.from_env(), migrate=migrate, build=build
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
