"""validate_append: every way an append request can be wrong, and what a valid one becomes.

Pure: no servers. Each refusal is INVALID_ARGUMENT with its registered reason and the
field it names (the servicer passes these errors through unchanged).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

import pytest
from eventstore.domain.append_request import (
    MAX_EVENT_TYPE_LENGTH,
    MAX_ID_LENGTH,
    MAX_KEY_LENGTH,
    Limits,
    RawEvent,
    validate_append,
)
from eventstore.domain.model import AppendCommand, Expected, ExpectedKind, NewEvent
from fundledger_kernel.canonical import payload_hash, request_hash
from fundledger_platform.errors import InvalidArgument
from fundledger_platform.reasons import Reason

ANY = Expected(ExpectedKind.ANY)
STREAM = "fund-3f2c9a"


def raw(data: Any = None, *, body: bytes | None = None, **fields: Any) -> RawEvent:
    """An event of `data` as JSON (or of the bytes `body` as they are)."""
    encoded = json.dumps({"n": 1} if data is None else data).encode() if body is None else body
    values: dict[str, Any] = {"event_id": "", "event_type": "NOTE_ADDED", "schema_version": 1}
    values.update(fields)
    return RawEvent(data=encoded, **values)


def validate(
    *events: RawEvent,
    stream_id: str = STREAM,
    expected: Expected = ANY,
    idempotency_key: str = "",
    limits: Limits | None = None,
) -> AppendCommand:
    return validate_append(stream_id, expected, list(events), idempotency_key, limits or Limits())


def refusal(**kwargs: Any) -> tuple[Reason, str]:
    """(reason, field) of the InvalidArgument `validate(**kwargs)` raises."""
    events = kwargs.pop("events", [raw()])
    with pytest.raises(InvalidArgument) as caught:
        validate(*events, **kwargs)
    assert caught.value.field is not None
    return caught.value.reason, caught.value.field


# -- the append as a whole ------------------------------------------------------------


def test_an_empty_append_is_refused() -> None:
    assert refusal(events=[]) == (Reason.EMPTY_APPEND, "events")


def test_more_events_than_the_limit_are_refused() -> None:
    limits = Limits(max_events=3)
    assert len(validate(raw(), raw(), raw(), limits=limits).events) == 3
    assert refusal(events=[raw()] * 4, limits=limits) == (Reason.TOO_MANY_EVENTS, "events")


def test_an_append_over_its_byte_limit_is_refused() -> None:
    blob = {"b": "x" * 90}  # 100 bytes of JSON per event
    limits = Limits(max_event_bytes=1000, max_append_bytes=300)
    validate(*[raw(blob)] * 3, limits=limits)
    assert refusal(events=[raw(blob)] * 4, limits=limits) == (Reason.APPEND_TOO_LARGE, "events")


def test_one_event_over_its_byte_limit_is_refused_counting_its_metadata() -> None:
    limits = Limits(max_event_bytes=100)
    data = {"b": "x" * 50}
    room = 100 - len(json.dumps(data).encode()) - len("k")  # what the metadata value may use
    validate(raw(data, metadata={"k": "v" * room}), limits=limits)
    too_big = raw(data, metadata={"k": "v" * (room + 1)})
    assert refusal(events=[raw(), too_big], limits=limits) == (
        Reason.EVENT_TOO_LARGE,
        "events[1]",
    )


def test_event_ids_repeated_within_one_append_are_refused() -> None:
    same = uuid.uuid4()
    events = [raw(event_id=str(same)), raw(event_id=str(same).upper())]
    assert refusal(events=events) == (Reason.DUPLICATE_EVENT_ID, "events")


def test_a_negative_expected_version_is_refused() -> None:
    assert refusal(expected=Expected(ExpectedKind.EXACT, -1)) == (
        Reason.EXPECTED_VERSION_INVALID,
        "expected_version",
    )
    assert validate(raw(), expected=Expected(ExpectedKind.EXACT, 0)).expected.version == 0


def test_the_idempotency_key_has_a_length_limit() -> None:
    assert (
        validate(raw(), idempotency_key="k" * MAX_KEY_LENGTH).idempotency_key
        == "k" * MAX_KEY_LENGTH
    )
    assert refusal(idempotency_key="k" * (MAX_KEY_LENGTH + 1)) == (
        Reason.FIELD_TOO_LONG,
        "idempotency_key",
    )
    assert validate(raw(), idempotency_key="").idempotency_key is None


@pytest.mark.parametrize(
    "stream_id",
    ["", "fund", "Fund-1", "fund-", "-1", "fund-a b", "fund-a*", "fund-\n", "f" * 300],
)
def test_stream_ids_follow_the_stream_id_rule(stream_id: str) -> None:
    assert refusal(stream_id=stream_id) == (Reason.STREAM_ID_INVALID, "stream_id")


def test_the_category_comes_from_the_stream_id() -> None:
    assert validate(raw(), stream_id="company_2-a.b:c-d").category == "company_2"
    assert validate(raw(), stream_id="fund-" + "x" * 195).category == "fund"


# -- each event -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "reason"),
    [
        ("", Reason.FIELD_REQUIRED),
        ("X" * (MAX_EVENT_TYPE_LENGTH + 1), Reason.FIELD_TOO_LONG),
        ("1_STARTS_WITH_A_DIGIT", Reason.FIELD_MALFORMED),
        ("HAS SPACE", Reason.FIELD_MALFORMED),
        ("HAS/SLASH", Reason.FIELD_MALFORMED),
    ],
)
def test_bad_event_types_are_refused(event_type: str, reason: Reason) -> None:
    events = [raw(), raw(event_type=event_type)]
    assert refusal(events=events) == (reason, "events[1].event_type")


def test_event_types_may_use_letters_digits_and_separators() -> None:
    name = "a" + "B9_.:-" * 16 + "xyz"  # 100 characters
    assert len(name) == MAX_EVENT_TYPE_LENGTH
    assert validate(raw(event_type=name)).events[0].event_type == name


@pytest.mark.parametrize("event_id", ["not-a-uuid", "1234", str(uuid.uuid4()) + "0"])
def test_an_event_id_that_is_not_a_uuid_is_refused(event_id: str) -> None:
    events = [raw(), raw(event_id=event_id)]
    assert refusal(events=events) == (Reason.FIELD_MALFORMED, "events[1].event_id")


def test_a_negative_schema_version_is_refused() -> None:
    assert refusal(events=[raw(schema_version=-1)]) == (
        Reason.FIELD_NEGATIVE,
        "events[0].schema_version",
    )


@pytest.mark.parametrize(
    ("event_type", "data", "field"),
    [
        ("INVESTMENT_MADE", {"companyId": "c1", "amountCents": 5, "bogus": 1}, "data.bogus"),
        ("INVESTMENT_MADE", {"companyId": "c1", "amountCents": 10.5}, "data.amountCents"),
        ("INVESTMENT_MADE", {"companyId": "c1", "amountCents": 100.0}, "data.amountCents"),
        ("INVESTMENT_MADE", {"companyId": "c1"}, "data.amount_cents"),
        ("FUND_CREATED", {"name": 7, "committedCapitalCents": 1, "currency": "USD"}, "data.name"),
        ("CAPITAL_CALLED", {"amountCents": "12.5"}, "data.amountCents"),
    ],
)
def test_fund_payload_errors_name_the_field(
    event_type: str, data: dict[str, Any], field: str
) -> None:
    events = [raw(), raw(data, event_type=event_type)]
    assert refusal(events=events) == (Reason.INVALID_PAYLOAD, f"events[1].{field}")


@pytest.mark.parametrize("data", [b"[1, 2]", b'"text"', b"12", b"not json", b""])
def test_data_must_be_a_json_object(data: bytes) -> None:
    assert refusal(events=[raw(body=data)]) == (
        Reason.INVALID_PAYLOAD,
        "events[0].data",
    )


def test_other_event_types_accept_any_json_object() -> None:
    data = {"nested": {"list": [1, 2.5, None, True]}, "text": "héllo"}
    event = validate(raw(data, event_type="SOMETHING_ELSE")).events[0]
    assert json.loads(event.data) == data


@pytest.mark.parametrize(
    ("metadata", "reason", "field"),
    [
        ({"": "v"}, Reason.FIELD_MALFORMED, "events[0].metadata"),
        ({"k" * (MAX_KEY_LENGTH + 1): "v"}, Reason.FIELD_TOO_LONG, "events[0].metadata"),
        ({"k": "a\x00b"}, Reason.FIELD_MALFORMED, "events[0].metadata['k']"),
        ({"a\x00": "v"}, Reason.FIELD_MALFORMED, "events[0].metadata['a\\x00']"),
    ],
)
def test_metadata_limits(metadata: dict[str, str], reason: Reason, field: str) -> None:
    assert refusal(events=[raw(metadata=metadata)]) == (reason, field)


def test_metadata_keys_up_to_the_limit_are_kept() -> None:
    metadata = {"k" * MAX_KEY_LENGTH: "v", "other": ""}
    assert validate(raw(metadata=metadata)).events[0].metadata == metadata


@pytest.mark.parametrize("name", ["causation_id", "correlation_id", "user_id", "source"])
def test_event_ids_and_names_have_a_length_and_character_rule(name: str) -> None:
    def with_value(value: str) -> RawEvent:
        fields: dict[str, Any] = {name: value}
        return raw(**fields)

    kept = validate(with_value("x" * MAX_ID_LENGTH)).events[0]
    assert getattr(kept, name) == "x" * MAX_ID_LENGTH
    assert getattr(validate(raw()).events[0], name) is None
    assert refusal(events=[with_value("x" * (MAX_ID_LENGTH + 1))]) == (
        Reason.FIELD_TOO_LONG,
        f"events[0].{name}",
    )
    assert refusal(events=[with_value("tab\there")]) == (
        Reason.FIELD_MALFORMED,
        f"events[0].{name}",
    )


# -- what a valid append becomes ------------------------------------------------------


def test_data_is_stored_canonical_and_hashed_by_value() -> None:
    one = validate(raw(body=b'{ "b" : [1,2],\n "a":1 }'))
    two = validate(raw({"a": 1, "b": [1, 2]}))
    assert one.events[0].data == two.events[0].data == '{"a":1,"b":[1,2]}'
    assert one.events[0].payload_hash == payload_hash({"a": 1, "b": [1, 2]})
    assert one.request_hash == two.request_hash


def test_server_generated_event_ids_stay_out_of_the_request_hash() -> None:
    first, retry = validate(raw(), raw()), validate(raw(), raw())
    assert first.events[0].event_id != retry.events[0].event_id
    assert not first.events[0].client_event_id
    assert first.request_hash == retry.request_hash


def test_the_request_hash_covers_what_the_caller_chose() -> None:
    base = validate(raw())
    client_id = str(uuid.uuid4())
    with_id = validate(raw(event_id=client_id))
    assert with_id.events[0].event_id == uuid.UUID(client_id)
    assert with_id.events[0].client_event_id
    for other in [
        with_id,
        validate(raw({"n": 2})),
        validate(raw(metadata={"k": "v"})),
        validate(raw(user_id="u")),
        validate(raw(schema_version=2)),
        validate(raw(), stream_id="fund-other"),
        validate(raw(), expected=Expected(ExpectedKind.EXACT, 0)),
        validate(raw(), raw()),
    ]:
        assert other.request_hash != base.request_hash
    # Schema version 0 means 1, so the two are the same request.
    assert validate(raw(schema_version=0)).request_hash == base.request_hash
    assert validate(raw(schema_version=0)).events[0].schema_version == 1


@pytest.mark.parametrize(
    "text",
    ["", "plain", 'quote " and \\ backslash', "tab\there\nline", "ünïcødé ✓ 𝄞", "</script>\u2028"],
)
def test_the_request_hash_is_the_canonical_json_of_what_the_caller_chose(text: str) -> None:
    # Stored hashes decide whether a retry is the same request: the bytes hashed must stay
    # those of the kernel's request_hash over the fingerprint objects, whatever the strings.
    event_id = str(uuid.uuid4()).upper()
    metadata = {"z": text, "a": "1", text or "k": "v", "ключ": text}
    data = {"b": [1, {"c": text}], "a": 1, "é": None}
    printable = text.replace("\t", " ").replace("\n", " ")  # ids refuse control characters
    events = [
        raw(data, metadata=metadata, causation_id=printable, correlation_id="c", source=printable),
        raw(event_id=event_id, user_id="u", schema_version=0),
    ]
    expected = Expected(ExpectedKind.EXACT, 7)
    command = validate(*events, stream_id="note-abc", expected=expected)
    fingerprints = [
        {
            "event_id": e.event_id.lower(),
            "event_type": e.event_type,
            "schema_version": e.schema_version or 1,
            "data": json.loads(e.data),
            "metadata": dict(e.metadata),
            "causation_id": e.causation_id,
            "correlation_id": e.correlation_id,
            "user_id": e.user_id,
            "source": e.source,
        }
        for e in events
    ]
    assert command.request_hash == request_hash(["note-abc", "7", fingerprints])


def test_tracing_keeps_every_other_field_of_the_events() -> None:
    command = validate(raw(user_id="u", causation_id="c", correlation_id="r", source="s"))
    command = dataclasses.replace(
        command,
        events=(dataclasses.replace(command.events[0], actor="svc"),),
        idempotency_key="key",
        tenant="t",
    )
    traced = command.with_traceparent("00-abc-def-01")
    for name in (f.name for f in dataclasses.fields(AppendCommand) if f.name != "events"):
        assert getattr(traced, name) == getattr(command, name), name
    for name in (f.name for f in dataclasses.fields(NewEvent) if f.name != "metadata"):
        assert getattr(traced.events[0], name) == getattr(command.events[0], name), name


def test_the_trace_context_joins_the_metadata_outside_the_hash() -> None:
    command = validate(raw(), raw(metadata={"traceparent": "mine"}))
    traced = command.with_traceparent("00-abc-def-01")
    assert traced.events[0].metadata == {"traceparent": "00-abc-def-01"}
    assert traced.events[1].metadata == {"traceparent": "mine"}
    assert traced.request_hash == command.request_hash
    assert command.events[0].metadata == {}
