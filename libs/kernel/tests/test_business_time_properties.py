"""Property tests of business time: whatever order events arrive in and whatever base a fold
starts from, the answer is the fold from scratch of the events selected by hand.

Histories are random valid fund streams with recorded times that never decrease along the
stream and effective times anywhere from well before to at the recorded time (backdated
events), schema versions 1 and 2 mixed.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from fund_strategies import FUND_CREATED, PAYLOADS, START, Draw
from fundledger_kernel.fund import FundState, empty_state, project
from fundledger_kernel.fund.fold import fold_key
from fundledger_kernel.fund.fold_input import (
    BackdatedEventError,
    LoggedEvent,
    fold_inputs,
    fold_logged,
    fold_selected,
)
from hypothesis import given, settings
from hypothesis import strategies as st

FUND = "fund-p"
V2_EXTRAS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "INVESTMENT_MADE": st.fixed_dictionaries(
        {
            "instrument": st.sampled_from(
                ("INSTRUMENT_EQUITY", "INSTRUMENT_SAFE", "INSTRUMENT_WARRANT")
            )
        },
        optional={
            "shares": st.integers(0, 10**9),
            "price_per_share_micros": st.integers(0, 10**12),
        },
    ),
    "VALUATION_UPDATED": st.fixed_dictionaries(
        {"method": st.sampled_from(("VALUATION_METHOD_LAST_ROUND", "VALUATION_METHOD_WRITE_DOWN"))}
    ),
}


@st.composite
def histories(draw: Draw[Any]) -> list[LoggedEvent]:
    raw: list[tuple[str, dict[str, Any], int]] = [("FUND_CREATED", draw(FUND_CREATED), 1)]
    for event_type in draw(st.lists(st.sampled_from(sorted(PAYLOADS)), max_size=25)):
        data, version = draw(PAYLOADS[event_type]), 1
        if event_type in V2_EXTRAS and draw(st.booleans()):
            data, version = {**data, **draw(V2_EXTRAS[event_type])}, 2
        raw.append((event_type, data, version))
    events, moment = [], START
    for version, (event_type, data, schema_version) in enumerate(raw, start=1):
        moment += timedelta(hours=draw(st.integers(0, 48)))
        # Mostly current, often backdated by up to ~4 months; equal times happen too.
        back = draw(st.one_of(st.just(0), st.integers(0, 24 * 120)))
        effective = moment - timedelta(hours=back)
        events.append(
            LoggedEvent(
                stream_id=FUND,
                version=version,
                position=version,
                event_id=f"e{version}",
                event_type=event_type,
                data=json.dumps(data).encode(),
                recorded_at=moment,
                schema_version=schema_version,
                effective_at=None if back == 0 and draw(st.booleans()) else effective,
            )
        )
    return events


def by_hand(
    events: list[LoggedEvent],
    effective_at: datetime | None = None,
    known_at: datetime | None = None,
    at_version: int | None = None,
) -> FundState:
    """The oracle: select, sort by (effective, version), fold from the empty state."""
    decoded = fold_inputs(0, events)
    chosen = [
        e
        for e in decoded
        if (effective_at is None or e.effective_at <= effective_at)
        and (known_at is None or e.recorded_at <= known_at)
        and (at_version is None or e.version <= at_version)
    ]
    return project(empty_state(FUND), sorted(chosen, key=fold_key))


relaxed = settings(deadline=None, max_examples=150)


@relaxed
@given(histories(), st.data())
def test_arrival_in_chunks_with_refolds_equals_a_fold_from_scratch(
    events: list[LoggedEvent], data: st.DataObject
) -> None:
    state, seen = empty_state(FUND), 0
    while seen < len(events):
        size = data.draw(st.integers(1, 5))
        chunk = events[seen : seen + size]
        high = state.last_effective_at
        if high is not None and any(e.effective_at < high for e in fold_inputs(seen, chunk)):
            with pytest.raises(BackdatedEventError):
                fold_logged(state, chunk)
            state = fold_logged(empty_state(FUND), events[: seen + len(chunk)])
        else:
            state = fold_logged(state, chunk)
        seen += len(chunk)
        assert state == by_hand(events[:seen])
    assert state == fold_logged(empty_state(FUND), events)


@relaxed
@given(histories(), st.data())
def test_every_two_axis_answer_from_any_usable_base_equals_the_hand_selection(
    events: list[LoggedEvent], data: st.DataObject
) -> None:
    times = sorted(
        {e.recorded_at for e in events} | {e.effective_at or e.recorded_at for e in events}
    )
    effective_at = data.draw(st.none() | st.sampled_from(times))
    known_at = data.draw(st.none() | st.sampled_from(times))
    at_version = data.draw(st.none() | st.integers(0, len(events)))
    expected = by_hand(events, effective_at, known_at, at_version)
    bounds = {"effective_at": effective_at, "known_at": known_at, "at_version": at_version}
    assert fold_selected(empty_state(FUND), events, **bounds) == expected
    # A snapshot is a complete prefix; from any prefix the answer is right or refused.
    k = data.draw(st.integers(0, len(events)))
    base = fold_logged(empty_state(FUND), events[:k])
    outside = k > 0 and (
        (at_version is not None and base.version > at_version)
        or (
            known_at is not None
            and base.last_event_at is not None
            and base.last_event_at > known_at
        )
        or (
            effective_at is not None
            and base.last_effective_at is not None
            and base.last_effective_at > effective_at
        )
    )
    if outside:
        with pytest.raises(ValueError, match="not within"):
            fold_selected(base, events[k:], **bounds)
        return
    later = fold_inputs(k, events[k:])
    sorts_before = base.last_effective_at is not None and any(
        e.effective_at < base.last_effective_at
        for e in later
        if (effective_at is None or e.effective_at <= effective_at)
        and (known_at is None or e.recorded_at <= known_at)
        and (at_version is None or e.version <= at_version)
    )
    if sorts_before:
        with pytest.raises(BackdatedEventError):
            fold_selected(base, events[k:], **bounds)
        return
    assert fold_selected(base, events[k:], **bounds) == expected
