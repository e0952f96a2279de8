"""`python -m fundledger_cli …` is `fundledger …`."""

from fundledger_cli.app import main

main()
