"""Strict JSON parsing: each refusal names the payload and says what is wrong."""

from __future__ import annotations

import pickle

import pytest
from fundledger_kernel.canonical import PayloadError, parse_json_object


def refusal(raw: bytes, field: str = "data") -> str:
    with pytest.raises(PayloadError) as caught:
        parse_json_object(raw, field)
    assert caught.value.field.startswith(field)
    return str(caught.value)


def test_parses_an_object() -> None:
    raw = '{"name": "Fonds Zürich", "n": [1, 2.5, true, null, {"x": "\\ud83d\\ude80"}]}'
    assert parse_json_object(raw.encode(), "data") == {
        "name": "Fonds Zürich",
        "n": [1, 2.5, True, None, {"x": "🚀"}],
    }


@pytest.mark.parametrize(
    ("raw", "kind"),
    [(b"[1]", "an array"), (b'"s"', 'the string "s"'), (b"1", "1"), (b"null", "null")],
)
def test_top_level_must_be_an_object(raw: bytes, kind: str) -> None:
    assert refusal(raw, "metadata") == f"metadata: must be a JSON object, got {kind}"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_constants_are_refused(constant: str) -> None:
    message = refusal(b'{"a": {"b": ' + constant.encode() + b"}}")
    assert message == f"data: {constant} is not valid JSON; numbers must be finite"


def test_float_overflowing_to_infinity_is_refused() -> None:
    assert refusal(b'{"a": 1e400}') == "data: number 1e400 is too large"


def test_integer_beyond_the_digit_limit_is_refused() -> None:
    assert refusal(b'{"a": ' + b"9" * 5000 + b"}") == "data: integer with 5000 digits is too large"


@pytest.mark.parametrize("raw", [b'{"a": 1, "a": 1}', b'{"x": [{"a": 1, "b": 2, "a": 3}]}'])
def test_duplicate_keys_are_refused_at_any_depth(raw: bytes) -> None:
    assert refusal(raw) == 'data: duplicate key "a"'


@pytest.mark.parametrize("raw", [b'{"a": "\xff"}', b'{"a": "\xc3"}', b'{"a": "\xed\xa0\x80"}'])
def test_invalid_utf8_is_refused(raw: bytes) -> None:
    assert refusal(raw).startswith("data: is not valid UTF-8 (invalid byte at offset 7)")


def test_byte_order_mark_is_refused() -> None:
    assert refusal(b'\xef\xbb\xbf{"a": 1}') == "data: must not start with a byte-order mark"


@pytest.mark.parametrize("raw", [b"", b"  \n"])
def test_empty_input_is_refused(raw: bytes) -> None:
    assert refusal(raw) == "data: is empty; expected a JSON object"


@pytest.mark.parametrize("raw", [b'{"a": 1', b"{'a': 1}", b'{"a": 1,}', b'{"a": "\n"}'])
def test_malformed_json_is_refused_with_its_position(raw: bytes) -> None:
    assert refusal(raw).startswith("data: is not valid JSON: ")
    assert " at line " in refusal(raw)


def test_deep_nesting_is_refused() -> None:
    assert refusal(b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}") == (
        "data: is nested too deeply"
    )


def test_unpaired_surrogate_escape_is_refused_with_its_path() -> None:
    assert refusal(b'{"a": [1, {"b c": "x\\ud800"}]}') == (
        'data.a[1]["b c"]: contains an unpaired surrogate (\\ud800), which is not valid Unicode'
    )


def test_unpaired_surrogate_in_a_key_is_refused() -> None:
    assert refusal(b'{"a": {"\\udc00": 1}}') == (
        "data.a: key contains an unpaired surrogate (\\udc00), which is not valid Unicode"
    )


def test_nul_escape_is_refused() -> None:
    # PostgreSQL jsonb cannot store U+0000; refusing it here keeps it a caller error.
    assert refusal(b'{"note": "a\\u0000b"}') == (
        "data.note: contains a NUL character (\\u0000), which cannot be stored"
    )


def test_escaped_backslash_before_u0000_is_fine() -> None:
    assert parse_json_object(b'{"a": "\\\\u0000"}', "data") == {"a": "\\u0000"}


def test_payload_error_keeps_field_and_message_and_pickles() -> None:
    error = PayloadError("data.amount_cents", "required field is missing")
    assert (error.field, error.message) == ("data.amount_cents", "required field is missing")
    assert str(error) == "data.amount_cents: required field is missing"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.field, copy.message) == (error.field, error.message)
