"""The daily anchor's Merkle root (fundledger_kernel.merkle): fixed vectors, and the same values
built by hand from the specification in its docstring (docs/event-store.md, "Hash chain")."""

from __future__ import annotations

import hashlib

import pytest
from fundledger_kernel.merkle import EMPTY_ROOT, leaf, node, root


def h(n: int) -> bytes:
    return hashlib.sha256(bytes([n])).digest()


def by_hand_leaf(stream_id: str, head: bytes) -> bytes:
    raw = stream_id.encode()
    return hashlib.sha256(b"\x00" + len(raw).to_bytes(4, "big") + raw + head).digest()


def by_hand_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


VECTORS = [
    ([], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ([("fund-a", h(1))], "bf555359fa3a2e1491ee306ccdbd8c171b106a0dd4f20c4593e98ac274ea0fe6"),
    (
        [("fund-a", h(1)), ("fund-b", h(2))],
        "7e54f553d60177582634e1bab1d71fc077db41863033f4591166ea48facce227",
    ),
    (
        [("fund-c", h(3)), ("fund-a", h(1)), ("fund-b", h(2))],
        "4fde6e8071f6ed482164de66ddea4e8748a9456a77908d84d953602326f321e4",
    ),
    (
        [("fund-é", h(4)), ("fund-z", h(5))],
        "c7ba4c9880600c273c01055351454d08c62f4ef07b4925e2b52bae3d6db5e5ea",
    ),
]


@pytest.mark.parametrize(("heads", "expected"), VECTORS)
def test_fixed_vectors(heads: list[tuple[str, bytes]], expected: str) -> None:
    assert root(heads).hex() == expected


def test_the_vectors_follow_the_specification() -> None:
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    a, b, c = (
        by_hand_leaf("fund-a", h(1)),
        by_hand_leaf("fund-b", h(2)),
        by_hand_leaf("fund-c", h(3)),
    )
    assert leaf("fund-a", h(1)) == a
    assert node(a, b) == by_hand_node(a, b)
    assert root([("fund-a", h(1))]) == a
    # Three leaves: (a, b) paired, c promoted unchanged, then the two joined.
    assert root([("fund-c", h(3)), ("fund-a", h(1)), ("fund-b", h(2))]) == by_hand_node(
        by_hand_node(a, b), c
    )
    # Five: ((ab)(cd)) and e promoted twice.
    five = [(f"s{n}", h(n)) for n in range(5)]
    x = [by_hand_leaf(s, v) for s, v in five]
    assert root(five) == by_hand_node(
        by_hand_node(by_hand_node(x[0], x[1]), by_hand_node(x[2], x[3])), x[4]
    )


def test_ordered_by_utf8_bytes_and_order_free() -> None:
    heads = [("b", h(1)), ("a", h(2)), ("é", h(3)), ("Z", h(4))]
    assert root(heads) == root(list(reversed(heads)))
    assert root([("a", h(1)), ("b", h(2))]) != root([("a", h(2)), ("b", h(1))])


def test_a_stream_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        root([("a", h(1)), ("a", h(2))])
