"""Rows to RecordedEvents and pages: the conversion every read pays per event, and the page
bounds (events and bytes). Pure: rows are tuples in the order of records.COLUMNS."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from eventstore.adapters import relay_queries
from eventstore.adapters.records import COLUMNS, RowConverter, to_recorded_event
from eventstore.entrypoints import mappers as m
from fundledger.eventstore.v1.events_pb2 import RecordedEvent

AT = datetime(2026, 3, 4, 12, 0, 0, 123456, tzinfo=UTC)


def row(position: int, data: str = '{"n": 1}', **fields: Any) -> tuple[Any, ...]:
    values = {
        "position": position,
        "stream_id": "fund-1",
        "category": "fund",
        "version": position,
        "event_id": uuid.UUID(int=position),
        "event_type": "NOTE_ADDED",
        "schema_version": 1,
        "data": data,
        "metadata": '{"traceparent": "00-abc-def-01", "k": "v"}',
        "causation_id": None,
        "correlation_id": "c-1",
        "user_id": "alice",
        "source": None,
        "tenant": "dev",
        "actor": None,
        "recorded_at": AT,
        "effective_at": None,
        "hash": bytes(range(32)),
        **fields,
    }
    return tuple(values[name] for name in _names(COLUMNS))


def _names(columns: str) -> list[str]:
    return [c.strip() for c in columns.split(",")]


def plain(values: tuple[Any, ...]) -> RecordedEvent:
    """The conversion written the obvious way (what RowConverter must equal)."""
    r = dict(zip(_names(COLUMNS), values, strict=True))
    event = RecordedEvent(
        stream_id=r["stream_id"],
        version=r["version"],
        position=r["position"],
        event_id=str(r["event_id"]),
        event_type=r["event_type"],
        schema_version=r["schema_version"],
        data=r["data"].encode(),
        metadata=json.loads(r["metadata"]),
        causation_id=r["causation_id"] or "",
        correlation_id=r["correlation_id"] or "",
        user_id=r["user_id"] or "",
        source=r["source"] or "",
        category=r["category"],
        tenant=r["tenant"] or "",
        actor=r["actor"] or "",
        hash=r["hash"] or b"",
    )
    event.recorded_at.FromDatetime(r["recorded_at"])
    # Always set: the stored effective time, or (NULL) the recorded one.
    event.effective_at.FromDatetime(r["effective_at"] or r["recorded_at"])
    return event


def test_the_relay_selects_the_columns_in_the_converters_order() -> None:
    # The converter unpacks rows by position: a query in another order would mix fields up.
    selected = re.search(r"SELECT(.*?)FROM", relay_queries.SELECT_AFTER, re.S)
    assert selected is not None
    assert _names(selected.group(1)) == _names(COLUMNS)


def test_conversion_equals_the_plain_form_whatever_repeats() -> None:
    earlier = datetime(1969, 7, 20, 20, 17, 40, 5, tzinfo=UTC)  # before the epoch
    rows = [
        row(1),
        row(2),  # same metadata and time as the one before (remembered)
        row(3, metadata="{}", recorded_at=AT + timedelta(microseconds=1)),
        row(4, recorded_at=earlier, causation_id="x", source="s", actor="svc", tenant=None),
        row(5, metadata='{"é": "ü"}', data='{"text": "héllo"}'),
        row(6),  # a run of three sharing metadata: merged from its bytes from the second on
        row(7),
        row(8),
        row(9, metadata="{}"),
        row(10, effective_at=earlier),  # backdated: its own time, the recorded one unchanged
        row(11, effective_at=AT),  # set to its recorded time
        row(12, effective_at=AT + timedelta(days=400, microseconds=7)),
        row(13),  # unset again: the recorded time's
        row(14, hash=None),  # not back-filled yet: read as empty
    ]
    converter = RowConverter()
    assert [converter.convert(RecordedEvent, r) for r in rows] == [plain(r) for r in rows]
    assert [to_recorded_event(r) for r in rows] == [plain(r) for r in rows]
    # The size stands in for the encoding's: within the fixed allowance above it.
    for r in rows:
        converter.convert(RecordedEvent, r)
        assert 0 <= converter.size - plain(r).ByteSize() <= 146


def _pages(rows: list[tuple[Any, ...]], size: int) -> list[Any]:
    pages = m.Pages(m.stream_page, size)
    out = list(pages.fill(rows[: len(rows) // 2]))
    out += list(pages.fill(rows[len(rows) // 2 :]))  # a page spans the two lists
    last = pages.flush()
    return out + ([last] if last is not None else [])


def test_pages_hold_up_to_their_size_in_order() -> None:
    rows = [row(p) for p in range(1, 24)]
    pages = _pages(rows, 5)
    assert [len(p.events) for p in pages] == [5, 5, 5, 5, 3]
    assert [e for p in pages for e in p.events] == [plain(r) for r in rows]
    assert not any(p.HasField("event") for p in pages)
    assert [len(p.events) for p in _pages(rows, 1000)] == [23]
    assert _pages([], 10) == []


def test_a_page_ends_with_the_event_that_takes_it_to_the_byte_bound() -> None:
    third = "x" * (m.PAGE_BYTES // 3)
    rows = [row(p, data=json.dumps({"pad": third})) for p in range(1, 8)]
    pages = _pages(rows, 1000)
    assert [len(p.events) for p in pages] == [3, 3, 1]
    for page in pages[:-1]:
        assert page.ByteSize() >= m.PAGE_BYTES
        assert page.ByteSize() - page.events[-1].ByteSize() < m.PAGE_BYTES
    # One event alone past the bound is still sent, one per page.
    huge = [row(p, data=json.dumps({"pad": "y" * m.PAGE_BYTES})) for p in range(1, 4)]
    assert [len(p.events) for p in _pages(huge, 1000)] == [1, 1, 1]


def test_subscribe_pages_are_the_page_case_of_the_oneof() -> None:
    pages = m.Pages(m.subscribe_page, 2)
    [full] = pages.fill([row(1), row(2), row(3)])
    assert full.WhichOneof("content") == "page"
    assert [e.position for e in full.page.events] == [1, 2]
    rest = pages.flush()
    assert rest is not None
    assert [e.position for e in rest.page.events] == [3]
    assert pages.flush() is None
