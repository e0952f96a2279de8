"""The hash chain's reference implementation, pinned by fixed vectors (the worked example of
docs/event-store.md, "Hash chain"): a change to the encoding breaks every stored chain, so it
must show here first."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from fundledger_kernel.chain import (
    GENESIS_PREFIX,
    ChainEvent,
    chain,
    encode,
    genesis,
    link,
    micros,
)

FIRST = ChainEvent(
    stream_id="fund-demo",
    version=1,
    position=1,
    event_id="0b9e5b52-3c2f-4a0e-9d39-6a4a1c1f2e01",
    category="fund",
    event_type="FUND_CREATED",
    schema_version=1,
    data=b'{"name": "Demo"}',
    recorded_at_us=1796630400000000,  # 2026-12-07T08:00:00Z
    effective_at_us=1796630400000000,
)
SECOND = ChainEvent(
    stream_id="fund-demo",
    version=2,
    position=7,
    event_id="0b9e5b52-3c2f-4a0e-9d39-6a4a1c1f2e02",
    category="fund",
    event_type="COMPANY_ADDED",
    schema_version=2,
    data='{"name": "Zürich AG"}'.encode(),
    metadata={"traceparent": "00-ab-cd-01", "b": "é"},
    causation_id="c-1",
    correlation_id="op-1",
    user_id="alice",
    source="cli",
    tenant="acme",
    actor="svc",
    recorded_at_us=1796630400123456,
    effective_at_us=1796544000000000,  # a day earlier
)

GENESIS_HEX = "6ddbe4e960193f71ce51f8b352e27be0613799cb8bf4ed6cbc203d4935c491df"
FIRST_ENCODING_HEX = "".join(
    [
        "0000000966756e642d64656d6f",  # text stream_id
        "0000000000000001",  # version
        "0000000000000001",  # position
        "00000024" + b"0b9e5b52-3c2f-4a0e-9d39-6a4a1c1f2e01".hex(),  # event_id
        "0000000466756e64",  # category
        "0000000c46554e445f43524541544544",  # event_type
        "0000000000000001",  # schema_version
        "000000107b226e616d65223a202244656d6f227d",  # data
        "00000000",  # no metadata pairs
        "00000000" * 6,  # causation, correlation, user, source, tenant, actor: empty
        "000662069cc8e000",  # recorded_at µs
        "000662069cc8e000",  # effective_at µs
    ]
)
FIRST_HASH_HEX = "61e1b038d9b26440666982c4f09f46d411ea4a46d99c474b270a1b54529cbf98"
SECOND_HASH_HEX = "d087e91ed703f82abc00cae157aa03c5d81aba04905c70a0a9eb5ac7c1e3b2e8"


def test_genesis_is_the_hash_of_the_prefixed_stream_id() -> None:
    assert genesis("fund-demo").hex() == GENESIS_HEX
    assert genesis("fund-demo") == hashlib.sha256(GENESIS_PREFIX + b"fund-demo").digest()


def test_encoding_of_a_minimal_event_byte_for_byte() -> None:
    assert encode(FIRST).hex() == FIRST_ENCODING_HEX


def test_fixed_vectors() -> None:
    first = link(genesis("fund-demo"), FIRST)
    assert first.hex() == FIRST_HASH_HEX
    assert link(first, SECOND).hex() == SECOND_HASH_HEX
    assert chain("fund-demo", [FIRST, SECOND]).hex() == SECOND_HASH_HEX
    assert chain("fund-demo", [SECOND], previous=first).hex() == SECOND_HASH_HEX


def test_metadata_pairs_are_ordered_by_key_bytes_whatever_the_map_order() -> None:
    shuffled = replace(SECOND, metadata={"b": "é", "traceparent": "00-ab-cd-01"})
    assert encode(shuffled) == encode(SECOND)
    # "b" (0x62) < "traceparent" (0x74): the pair for "b" comes first, value as UTF-8 (c3 a9).
    assert "00000002" + "0000000162" + "00000002c3a9" in encode(SECOND).hex()


def test_every_field_is_covered() -> None:
    base = encode(SECOND)
    changes: dict[str, Any] = {
        "stream_id": "fund-demo2",
        "version": 3,
        "position": 8,
        "event_id": "0b9e5b52-3c2f-4a0e-9d39-6a4a1c1f2e03",
        "category": "funds",
        "event_type": "COMPANY_REMOVED",
        "schema_version": 1,
        "data": b'{"name": "Zurich AG"}',
        "metadata": {"traceparent": "00-ab-cd-01"},
        "causation_id": "c-2",
        "correlation_id": "op-2",
        "user_id": "bob",
        "source": "api",
        "tenant": "other",
        "actor": "svc2",
        "recorded_at_us": SECOND.recorded_at_us + 1,
        "effective_at_us": SECOND.effective_at_us + 1,
    }
    for name, value in changes.items():
        assert encode(replace(SECOND, **{name: value})) != base, name


def test_length_prefixes_keep_neighbouring_fields_apart() -> None:
    # The same bytes split differently between two fields encode differently.
    a = replace(SECOND, user_id="ab", source="c")
    b = replace(SECOND, user_id="a", source="bc")
    assert encode(a) != encode(b)


def test_event_id_is_lower_case() -> None:
    upper = replace(FIRST, event_id=FIRST.event_id.upper())
    assert encode(upper) == encode(FIRST)


def test_micros_is_exact() -> None:
    at = datetime(2026, 12, 7, 8, 0, 0, 123456, tzinfo=UTC)
    assert micros(at) == 1796630400123456
    assert micros(datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)) == -1
    assert micros(at + timedelta(days=10_000)) == 1796630400123456 + 10_000 * 86_400_000_000
