"""Consumers' check of the hash chain (fundledger_platform.chain_check) with real kernel hashes."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_kernel.chain import genesis, link
from fundledger_kernel.fund.fold_input import FundLogError, LoggedEvent
from fundledger_platform.chain_check import (
    ChainBreakError,
    chain_event,
    chained_event,
    check_chain,
    previous_hash,
    verify_chain,
)
from fundledger_platform.reasons import Reason
from fundledger_platform.recorded import fund_log_data_loss, logged_event

FUND = "fund-00000000-0000-4000-8000-000000000001"


def _recorded(version: int, data: bytes = b'{"name": "Demo"}') -> RecordedEvent:
    event = RecordedEvent(
        stream_id=FUND,
        version=version,
        position=10 + version,
        event_id=f"0b9e5b52-3c2f-4a0e-9d39-6a4a1c1f2e{version:02d}",
        event_type="FUND_RENAMED",
        data=data,
        category="fund",
        tenant="acme",
        schema_version=1,
        correlation_id="op-1",
    )
    event.metadata["traceparent"] = "00-ab-cd-01"
    event.recorded_at.FromMicroseconds(1796630400000000 + version)
    if version % 2:
        event.effective_at.FromMicroseconds(1796544000000000 + version)
    return event


def _log(count: int) -> list[RecordedEvent]:
    """`count` events hashed as the event store hashes them."""
    events, previous = [], genesis(FUND)
    for version in range(1, count + 1):
        event = _recorded(version)
        previous = link(previous, chain_event(event))
        event.hash = previous
        events.append(event)
    return events


def test_the_mapping_reads_what_the_fold_reads_and_the_chain_fields() -> None:
    event = _log(1)[0]
    chained = chained_event(event)
    plain = logged_event(event)
    assert LoggedEvent(**{f: getattr(chained, f) for f in LoggedEvent.__dataclass_fields__}) == (
        plain
    )
    assert chained.hash == event.hash
    assert chained.chain == chain_event(event)
    assert chained.chain.effective_at_us == 1796544000000001
    unset = _recorded(2)
    assert chain_event(unset).effective_at_us == chain_event(unset).recorded_at_us


def test_a_valid_chain_passes_from_genesis_and_from_a_held_hash() -> None:
    events = [chained_event(e) for e in _log(5)]
    whole = check_chain(previous_hash(FUND, 1, None), events)
    assert (whole.last_hash, whole.verified, whole.unverified, whole.broken_at) == (
        events[-1].hash,
        5,
        0,
        None,
    )
    tail = verify_chain(FUND, previous_hash(FUND, 3, events[1].hash), events[2:])
    assert tail.last_hash == events[-1].hash
    assert tail.verified == 3


@pytest.mark.parametrize(
    "tamper",
    [
        lambda e: setattr(e, "data", b'{"name": "Other"}'),
        lambda e: e.metadata.__setitem__("traceparent", "00-ab-cd-02"),
        lambda e: setattr(e, "user_id", "mallory"),
        lambda e: e.recorded_at.FromMicroseconds(1),
        lambda e: setattr(e, "hash", bytes(32)),
    ],
    ids=["data", "metadata", "user", "recorded_at", "hash"],
)
def test_a_tampered_event_breaks_at_its_version(tamper: object) -> None:
    events = _log(4)
    tamper(events[2])  # type: ignore[operator]
    checked = check_chain(genesis(FUND), [chained_event(e) for e in events])
    assert checked.broken_at == 3
    assert checked.verified == 2
    assert checked.last_hash == events[1].hash


def test_an_edit_with_a_recomputed_hash_breaks_at_the_next_version() -> None:
    events = _log(4)
    events[1].data = b'{"name": "Other"}'
    events[1].hash = link(events[0].hash, chain_event(events[1]))  # the forger rehashed it
    assert check_chain(genesis(FUND), [chained_event(e) for e in events]).broken_at == 3


def test_a_swapped_pair_breaks_at_the_first_of_them() -> None:
    events = _log(4)
    swapped = [events[0], events[2], events[1], events[3]]
    for version, event in enumerate(swapped, start=1):
        event.version = version  # a swap in the table keeps the versions in place
    with pytest.raises(ChainBreakError) as raised:
        verify_chain(FUND, genesis(FUND), [chained_event(e) for e in swapped])
    assert isinstance(raised.value, FundLogError)
    assert (raised.value.fund_id, raised.value.version) == (FUND, 2)
    assert raised.value.stored == events[2].hash


def test_a_wrong_held_hash_breaks_at_the_first_event() -> None:
    events = [chained_event(e) for e in _log(3)]
    assert check_chain(events[0].hash, events[2:]).broken_at == 3


def test_unhashed_events_carry_the_computed_link_and_are_counted() -> None:
    events = _log(5)
    for event in events[:3]:
        event.hash = b""  # written before the chain, not back-filled yet
    checked = check_chain(genesis(FUND), [chained_event(e) for e in events])
    assert (checked.verified, checked.unverified, checked.broken_at) == (2, 3, None)
    assert checked.last_hash == events[-1].hash
    events[1].data = b'{"name": "Other"}'  # an edit of an unhashed event: found at the next hash
    assert check_chain(genesis(FUND), [chained_event(e) for e in events]).broken_at == 4


def test_an_unhashed_tail_leaves_the_computed_hash() -> None:
    events = _log(3)
    expected = events[2].hash
    events[2].hash = b""
    checked = check_chain(genesis(FUND), [chained_event(e) for e in events])
    assert checked.last_hash == expected
    assert checked.unverified == 1


def test_without_a_previous_hash_the_first_hashed_event_anchors_the_rest() -> None:
    events = _log(4)
    checked = check_chain(None, [chained_event(e) for e in events[1:]])
    assert (checked.verified, checked.unverified, checked.last_hash) == (2, 1, events[-1].hash)
    events[3].data = b'{"name": "Other"}'
    assert check_chain(None, [chained_event(e) for e in events[1:]]).broken_at == 4


def test_events_without_chain_fields_are_unverified_and_forget_the_hash() -> None:
    events = [chained_event(e) for e in _log(3)]
    plain: list[LoggedEvent] = [events[0], logged_event(_log(2)[1]), events[2]]
    checked = check_chain(genesis(FUND), plain)
    assert (checked.verified, checked.unverified, checked.broken_at) == (1, 2, None)
    assert checked.last_hash == events[2].hash
    assert check_chain(None, [replace(events[0], chain=None, hash=b"")]).last_hash is None


def test_a_break_reaches_callers_as_its_own_data_loss_reason() -> None:
    err = fund_log_data_loss(ChainBreakError("fund-1", 7, b"\x01" * 32, b"\x02" * 32))
    assert (err.reason, err.metadata) == (
        Reason.FUND_CHAIN_BROKEN,
        {"fund_id": "fund-1", "version": "7"},
    )
