"""Parsing of the values operators type on the command line."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fundledger_cli.errors import CliError, ExitCode

FUND_PREFIX = "fund-"


def fund_stream_id(text: str) -> str:
    """A fund's stream id: `fund-<id>` as is, a bare UUID gets the `fund-` prefix."""
    text = text.strip()
    try:
        return FUND_PREFIX + str(uuid.UUID(text))
    except ValueError:
        pass
    if not text.startswith(FUND_PREFIX) or len(text) == len(FUND_PREFIX):
        raise CliError(f"{text!r} is not a fund id: expected 'fund-<id>' or a UUID", ExitCode.USAGE)
    return text


def parse_time(text: str, option: str) -> datetime:
    """ISO-8601; a time without a zone is read as UTC."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CliError(
            f"{option}: {text!r} is not an ISO-8601 time (e.g. 2024-03-31T23:59:59Z)",
            ExitCode.USAGE,
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
