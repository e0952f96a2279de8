"""Canonical JSON and hashes: exact bytes for known inputs."""

from __future__ import annotations

import hashlib
import math

import pytest
from fundledger_kernel.canonical import canonical_json, payload_hash, request_hash


def test_keys_are_sorted_at_every_level_without_whitespace() -> None:
    value = {"b": [3, {"z": 1, "a": None}], "a": {"y": True, "x": "s"}}
    assert canonical_json(value) == b'{"a":{"x":"s","y":true},"b":[3,{"a":null,"z":1}]}'


def test_non_ascii_is_kept_as_utf8() -> None:
    assert canonical_json({"name": "Fonds Zürich 🚀"}) == '{"name":"Fonds Zürich 🚀"}'.encode()


def test_key_order_does_not_change_the_hash() -> None:
    assert payload_hash({"a": 1, "b": 2}) == payload_hash({"b": 2, "a": 1})


def test_payload_hash_is_sha256_of_canonical_json() -> None:
    digest = payload_hash({"b": 2, "a": 1})
    assert digest == hashlib.sha256(b'{"a":1,"b":2}').digest()
    assert len(digest) == 32


def test_integer_and_float_are_different_values() -> None:
    # 100 and 100.0 are distinct JSON texts; a hash must not blur them.
    assert payload_hash({"a": 100}) != payload_hash({"a": 100.0})


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="JSON"):
        canonical_json({"a": bad})


def test_values_json_cannot_hold_are_refused() -> None:
    with pytest.raises(TypeError):
        canonical_json({"a": b"bytes"})


def test_request_hash_is_the_hash_of_a_json_array() -> None:
    parts = ["fund-1", 3, {"type": "X", "data": {"b": 1, "a": 2}}]
    expected = hashlib.sha256(b'["fund-1",3,{"data":{"a":2,"b":1},"type":"X"}]').digest()
    assert request_hash(parts) == expected
    assert request_hash(tuple(parts)) == expected


def test_request_hash_depends_on_part_order() -> None:
    assert request_hash([{"id": 1}, {"id": 2}]) != request_hash([{"id": 2}, {"id": 1}])
