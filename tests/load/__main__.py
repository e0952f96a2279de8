"""Entry point of `python -m tests.load` (`make loadtest`)."""

import sys

from tests.load.run import main

if __name__ == "__main__":
    sys.exit(main())
