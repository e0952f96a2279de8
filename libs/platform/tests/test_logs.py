"""JSON log lines on stderr, with trace ids while a span is active."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from fundledger_platform.logs import configure_logging
from fundledger_platform.telemetry import setup_telemetry, tracer


def _our_handlers() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if getattr(h, "_fundledger_json_handler", 0)]


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    yield capsys
    # Our handler holds the stream capsys swapped in; drop it with capsys.
    for handler in _our_handlers():
        logging.getLogger().removeHandler(handler)


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    err = capsys.readouterr().err
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_lines_are_json_with_the_standard_fields(json_logs: pytest.CaptureFixture[str]) -> None:
    configure_logging("allocation", "INFO")
    logging.getLogger("fundledger.test").info("fund %s created", "f-1", extra={"fund_id": "f-1"})
    [line] = _lines(json_logs)
    assert line["message"] == "fund f-1 created"
    assert line["level"] == "INFO"
    assert line["logger"] == "fundledger.test"
    assert line["service"] == "allocation"
    assert line["fund_id"] == "f-1"
    assert str(line["timestamp"]).endswith("+00:00")
    assert "trace_id" not in line  # no span, no ids


def test_trace_and_span_ids_inside_a_span(json_logs: pytest.CaptureFixture[str]) -> None:
    setup_telemetry("probe", None)
    configure_logging("allocation", "INFO")
    with tracer("test").start_as_current_span("work") as span:
        logging.getLogger("fundledger.test").warning("inside")
    [line] = _lines(json_logs)
    context = span.get_span_context()
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")


def test_exceptions_keep_their_traceback(json_logs: pytest.CaptureFixture[str]) -> None:
    configure_logging("allocation", "INFO")
    try:
        raise ValueError("bad thing")
    except ValueError:
        logging.getLogger("fundledger.test").exception("failed")
    [line] = _lines(json_logs)
    assert "ValueError: bad thing" in str(line["exc_info"])


def test_configure_is_idempotent_and_sets_the_level(
    json_logs: pytest.CaptureFixture[str],
) -> None:
    configure_logging("allocation", "INFO")
    configure_logging("allocation", "warning")
    assert len(_our_handlers()) == 1
    logging.getLogger("fundledger.test").info("hidden")
    logging.getLogger("fundledger.test").warning("shown")
    assert [line["message"] for line in _lines(json_logs)] == ["shown"]
    configure_logging("allocation", "INFO")


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="VERBOSE"):
        configure_logging("allocation", "VERBOSE")
