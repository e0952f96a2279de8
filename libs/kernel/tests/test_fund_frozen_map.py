"""FrozenMap: the state's mappings cannot be changed in place, and compare by value."""

from __future__ import annotations

import pytest
from fundledger_kernel.fund import FrozenMap


def test_changes_return_new_maps_and_leave_the_original() -> None:
    source = {"a": 1}
    original = FrozenMap(source)
    source["b"] = 2  # the map took a private copy: changing the source changes nothing
    assert dict(original) == {"a": 1}

    added = original.with_item("b", 2)
    replaced = added.with_item("a", 10)
    removed = replaced.without("b")
    assert dict(original) == {"a": 1}
    assert dict(added) == {"a": 1, "b": 2}
    assert dict(replaced) == {"a": 10, "b": 2}
    assert dict(removed) == {"a": 10}
    assert removed.without("missing") is removed


def test_no_mutating_methods() -> None:
    frozen: FrozenMap[str, int] = FrozenMap({"a": 1})
    with pytest.raises(TypeError):
        frozen["a"] = 2  # type: ignore[index]
    with pytest.raises(TypeError):
        del frozen["a"]  # type: ignore[attr-defined]
    for name in ("update", "pop", "clear", "setdefault", "popitem"):
        assert not hasattr(frozen, name), name
    with pytest.raises(AttributeError):
        frozen.extra = 1  # type: ignore[attr-defined]


def test_equality_and_hash_ignore_insertion_order() -> None:
    one = FrozenMap([("a", 1), ("b", 2)])
    two = FrozenMap([("b", 2), ("a", 1)])
    assert one == two
    assert hash(one) == hash(two)
    assert one == {"a": 1, "b": 2}
    assert one != FrozenMap({"a": 1})
    assert one != [("a", 1), ("b", 2)]
    assert len({one, two}) == 1


def test_mapping_interface() -> None:
    frozen = FrozenMap({"a": 1, "b": 2})
    assert frozen["a"] == 1
    assert frozen.get("z") is None
    assert "b" in frozen
    assert "z" not in frozen
    assert sorted(frozen) == ["a", "b"]
    assert len(frozen) == 2
    assert frozen.keys() & {"b", "c"} == {"b"}
    assert not FrozenMap()
    with pytest.raises(KeyError):
        frozen["z"]
