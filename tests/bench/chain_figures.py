"""Phase `chain`'s figures (issue 13, phase_chain.py): their keys and the instance serving
each, apart from the phase so that server_cpu.py can name the server without the phase."""

from __future__ import annotations

CONCURRENCY = 32
CONFIGS = ("nochain", "chain")  # the order they are measured in


def chain_key(config: str) -> str:
    """``append.<chain|nochain>.c32``."""
    return f"append.{config}.c{CONCURRENCY}"


CHAIN = chain_key("chain")
NOCHAIN = chain_key("nochain")


def server_name(config: str) -> str:
    return f"event-store-{config}"


def chain_server_of(key: str) -> str | None:
    """The probe group serving one of the phase's figures, None for any other figure."""
    for config in CONFIGS:
        if key == chain_key(config):
            return server_name(config)
    return None
