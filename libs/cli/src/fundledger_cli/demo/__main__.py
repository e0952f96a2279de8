"""`python -m fundledger_cli.demo` (what `make demo` runs)."""

from __future__ import annotations

import sys

from fundledger_cli.demo.main import main

if __name__ == "__main__":
    sys.exit(main())
