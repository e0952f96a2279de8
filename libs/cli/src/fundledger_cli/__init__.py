"""The operator CLI: `fundledger …` (typer + rich) and the demo."""
