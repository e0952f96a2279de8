"""Structured logs: one JSON object per line on stderr.

Every line carries ``timestamp``, ``level``, ``logger``, ``message`` and
``service``, plus ``trace_id``/``span_id`` while a span is active, so a log
line can be found from a trace and the other way round.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

# Marks the handler we installed, so a second call replaces it instead of
# adding another (which would print every line twice).
_HANDLER_MARK = "_fundledger_json_handler"


class _FundLedgerJsonFormatter(JsonFormatter):
    def __init__(self, service_name: str) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            static_fields={"service": service_name},
            timestamp=True,
        )

    def add_fields(
        self,
        log_data: dict[str, Any],
        record: logging.LogRecord,
        message_dict: dict[str, Any],
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        # Formatting runs synchronously in the thread and context that logged,
        # so the current span is the one the log call happened under.
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            log_data["trace_id"] = format(span_context.trace_id, "032x")
            log_data["span_id"] = format(span_context.span_id, "016x")


def json_formatter(service_name: str) -> logging.Formatter:
    """The formatter :func:`configure_logging` installs (for tests and custom handlers)."""
    return _FundLedgerJsonFormatter(service_name)


def configure_logging(service_name: str, level: str) -> None:
    """Route the root logger to stderr as JSON lines at ``level``. Idempotent.

    Only our own handler is replaced; handlers others installed (pytest's
    capture, for one) are left alone.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, _HANDLER_MARK, False):
            root.removeHandler(existing)
            existing.close()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(json_formatter(service_name))
    setattr(handler, _HANDLER_MARK, True)
    root.addHandler(handler)
    root.setLevel(numeric)
