"""Entry point of `python -m tests.bench` (the guard keeps spawned client processes,
which import this module again, from starting a second run)."""

import sys

from tests.bench.run import main

if __name__ == "__main__":
    sys.exit(main())
