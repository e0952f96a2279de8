"""The event stream's replica count comes from FUNDLEDGER_BUS_STREAM_REPLICAS (1 to 5)."""

from __future__ import annotations

import pytest
from eventstore.config import Settings


def test_one_replica_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FUNDLEDGER_BUS_STREAM_REPLICAS", raising=False)
    assert Settings.from_env().bus_stream_replicas == 1
    monkeypatch.setenv("FUNDLEDGER_BUS_STREAM_REPLICAS", "3")
    assert Settings.from_env().bus_stream_replicas == 3


@pytest.mark.parametrize("value", ["0", "6", "three"])
def test_a_count_outside_one_to_five_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("FUNDLEDGER_BUS_STREAM_REPLICAS", value)
    with pytest.raises(ValueError, match="FUNDLEDGER_BUS_STREAM_REPLICAS"):
        Settings.from_env()
