"""The two clocks as operators type them: a business date, or an instant.

A bare date means the END of that day in UTC. "The NAV on 30 September" is what a fund
administrator means by `--effective 2025-09-30`: everything effective during that day counts,
so the date stands for 2025-09-30T23:59:59.999999Z (the last instant the event store can
record: its times have microsecond precision). The same rule holds for a known time given as
a date (`--known-at 2025-10-01`: what was known by the end of 1 October), so one date always
means one thing. An instant is taken as given; one without a zone is UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from fundledger_cli.errors import CliError, ExitCode

# The last microsecond of a day: the event store records times to the microsecond.
END_OF_DAY = time(23, 59, 59, 999_999, tzinfo=UTC)

DATE_HELP = "YYYY-MM-DD (the END of that day, UTC) or an ISO-8601 time (UTC if no zone)"


def parse_point(text: str, option: str) -> datetime:
    """`text` as an instant: a bare date is the end of that day (UTC); CliError(USAGE) if
    it is neither a date nor an ISO-8601 time."""
    value = text.strip()
    try:
        day = date.fromisoformat(value)
    except ValueError:
        pass
    else:
        return datetime.combine(day, END_OF_DAY)
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise CliError(
            f"{option}: {text!r} is neither a date nor an ISO-8601 time",
            ExitCode.USAGE,
            ["expected e.g. 2025-09-30 (the end of that day, UTC) or 2025-10-01T00:00Z"],
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_optional_point(text: str | None, option: str) -> datetime | None:
    return None if text is None else parse_point(text, option)
