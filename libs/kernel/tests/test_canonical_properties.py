"""Property tests: a payload's hash depends on its value, never on how it was written (FM-6).

Values are re-serialised with random key order at every level, random whitespace between every
token, and random (but exact) spellings of strings and floats, then parsed back and hashed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

from fundledger_kernel.canonical import (
    canonical_json,
    parse_json_object,
    payload_hash,
    request_hash,
)
from hypothesis import assume, given, settings
from hypothesis import strategies as st

T = TypeVar("T")
Draw = Callable[[st.SearchStrategy[T]], T]

# Unpaired surrogates (Cs) are not Unicode text, and NUL is refused by parse_json_object
# (PostgreSQL jsonb cannot store it); everything else is fair game.
_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=8)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text
)
json_values: st.SearchStrategy[object] = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children, max_size=4),
    max_leaves=25,
)
json_objects = st.dictionaries(_text, json_values, max_size=5)
_whitespace = st.text(st.sampled_from(" \t\n\r"), max_size=3)

relaxed = settings(deadline=None)


def shuffled(value: object, draw: Draw[object]) -> object:
    """`value` with the keys of every object, at every depth, in a random order."""
    if isinstance(value, dict):
        keys = draw(st.permutations(list(value)))
        assert isinstance(keys, list)
        return {key: shuffled(value[key], draw) for key in keys}
    if isinstance(value, list):
        return [shuffled(item, draw) for item in value]
    return value


def noisy_json(value: object, draw: Draw[object]) -> str:
    """Valid JSON text for `value`, written as differently as JSON allows."""

    def ws() -> str:
        return str(draw(_whitespace))

    if isinstance(value, dict):
        keys = draw(st.permutations(list(value)))
        assert isinstance(keys, list)
        members = [
            ws() + noisy_json(key, draw) + ws() + ":" + ws() + noisy_json(value[key], draw) + ws()
            for key in keys
        ]
        return "{" + ws() + ",".join(members) + "}"
    if isinstance(value, list):
        return "[" + ws() + ",".join(ws() + noisy_json(item, draw) + ws() for item in value) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=bool(draw(st.booleans())))
    if isinstance(value, float) and draw(st.booleans()):
        return format(value, ".17e")  # 17 significant digits: the same double, spelt differently
    return json.dumps(value)


@relaxed
@given(json_values, st.data())
def test_hash_ignores_key_order_at_every_level(value: object, data: st.DataObject) -> None:
    other = shuffled(value, data.draw)
    assert canonical_json(other) == canonical_json(value)
    assert payload_hash(other) == payload_hash(value)


@relaxed
@given(json_values, st.data())
def test_hash_ignores_whitespace_and_spelling(value: object, data: st.DataObject) -> None:
    text = str(data.draw(_whitespace)) + noisy_json(value, data.draw) + str(data.draw(_whitespace))
    parsed = json.loads(text)
    assert canonical_json(parsed) == canonical_json(value)
    assert payload_hash(parsed) == payload_hash(value)


@relaxed
@given(json_objects, st.data())
def test_strictly_parsed_payloads_hash_alike(value: dict[str, object], data: st.DataObject) -> None:
    raw = noisy_json(value, data.draw).encode()
    assert payload_hash(parse_json_object(raw, "data")) == payload_hash(value)


@relaxed
@given(json_values)
def test_canonical_json_is_a_fixed_point(value: object) -> None:
    canonical = canonical_json(value)
    assert canonical_json(json.loads(canonical)) == canonical


@relaxed
@given(json_values, json_values)
def test_different_values_hash_differently(a: object, b: object) -> None:
    assume(canonical_json(a) != canonical_json(b))
    assert payload_hash(a) != payload_hash(b)


@relaxed
@given(st.dictionaries(_text, json_values, min_size=1, max_size=5), json_values, st.data())
def test_changing_one_member_changes_the_hash(
    value: dict[str, object], replacement: object, data: st.DataObject
) -> None:
    key = data.draw(st.sampled_from(sorted(value)))
    assume(canonical_json(replacement) != canonical_json(value[key]))
    assert payload_hash({**value, key: replacement}) != payload_hash(value)


@relaxed
@given(st.lists(json_objects, min_size=1, max_size=5), st.data())
def test_request_hash_ignores_key_order_inside_parts(
    parts: list[dict[str, object]], data: st.DataObject
) -> None:
    assert request_hash([shuffled(part, data.draw) for part in parts]) == request_hash(parts)


@relaxed
@given(
    st.lists(json_objects, min_size=2, max_size=5, unique_by=lambda part: canonical_json(part)),
    st.data(),
)
def test_request_hash_depends_on_part_order(
    parts: list[dict[str, object]], data: st.DataObject
) -> None:
    reordered = data.draw(st.permutations(parts))
    assume(reordered != parts)
    assert request_hash(reordered) != request_hash(parts)
