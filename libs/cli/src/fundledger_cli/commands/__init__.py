"""One module per command group; each command is thin: parse, call, render."""
