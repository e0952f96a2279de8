"""Append → visible in GetFundState, idle and while a background load of appends flows.

Figures, each at c1: `visible-idle` (nothing else flowing: the relay and the
projector have caught up first), then under the background load `visible` (from
the append's start until GetFundState with min_version answers) and `visible-lag`
(from the append's acknowledgement).

The background is SHARE_OF_SUSTAINABLE (half) of the append rate the same run
sustains (issue 11: p99 of `visible` ≤ 3× the idle p99 while half the sustainable
rate flows). A short probe finds that rate: appends offered far faster than the
stack can take them (PROBE_RATE, at most MAX_IN_FLIGHT outstanding), so the event
store runs at what it sustains; the projector applies what it can meanwhile; the
sustainable rate is the slower of the two. The relay and the projector catch up
(bounded) between the probe and the figures.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from tests.bench.background import BackgroundLoad, BackgroundResult, BackgroundSpec
from tests.bench.fund_lag import progress, rates, wait_applied
from tests.bench.relay_idle import wait_relay_idle

if TYPE_CHECKING:
    from tests.bench.phases import Phases

# Offered during the probe: well above what two shared cores take, so the in-flight cap holds.
PROBE_RATE = 5000.0
SHARE_OF_SUSTAINABLE = 0.5
MIN_RATE = 10.0
# At c1 these calls take 10-100 ms: a longer window, so that p99 is not just the maximum.
WINDOW_FACTOR = 3
CATCH_UP_SECONDS = 90.0
RAMP_SECONDS = 2.0


async def visibility(p: Phases, projector: str, funds: tuple[str, ...]) -> None:
    store, dsn = p.stack.eventstore, p.stack.database_url
    work = {
        key: p.work(key, projector, funds=funds, store=store) for key in ("visible", "visible-lag")
    }
    seconds = WINDOW_FACTOR * p.settings.seconds
    notes: dict[str, Any] = {"probe_rate": PROBE_RATE, "share": SHARE_OF_SUSTAINABLE}
    p.notes["visibility"] = notes
    notes["settle_before_idle"] = await _settle(p, funds)
    label = "append → GetFundState shows it (from the append's start), c1, idle"
    await p.meter.measure("visible-idle.c1", label, work["visible"], 1, seconds=seconds)
    rate = await _probe(p, funds, notes)
    notes["settle_after_probe"] = await _settle(p, funds)
    window = 2 * (p.settings.warmup_seconds + seconds) + 4 * RAMP_SECONDS
    spec = BackgroundSpec(store, funds, rate, window + RAMP_SECONDS + 30)
    with BackgroundLoad(spec) as load:
        if load.pid is not None:
            p.stack.pids["background"] = load.pid
        try:
            await asyncio.sleep(RAMP_SECONDS)
            before = await progress(dsn, funds)
            for key in ("visible", "visible-lag"):
                what = "from the append's start" if key == "visible" else "from its ack"
                label = f"append → GetFundState shows it ({what}), c1, {rate:,.0f}/s behind"
                await p.meter.measure(f"{key}.c1", label, work[key], 1, seconds=seconds)
            after = await progress(dsn, funds)
        finally:
            p.stack.pids.pop("background", None)
        result = await asyncio.to_thread(load.stop)
    appended, applied = rates(before, after)
    p.log(
        f"  background {rate:,.0f}/s asked, {result.rate if result else 0:,.0f}/s achieved; "
        f"over the windows {appended:,.0f} appended/s, {applied:,.0f} applied/s by the "
        f"projector, its lag {before.lag:,} → {after.lag:,} events"
    )
    notes.update(
        background_rate=rate,
        background=_plain(result),
        windows={
            "appended_per_second": round(appended, 1),
            "applied_per_second": round(applied, 1),
            "lag_before": before.lag,
            "lag_after": after.lag,
        },
    )


def background_rate(stored: float, applied: float) -> float:
    """The loaded figures' background: SHARE_OF_SUSTAINABLE of the slower of the event
    store's and the projector's rates during the probe (appends/s)."""
    return max(MIN_RATE, round(SHARE_OF_SUSTAINABLE * min(stored, applied), -1))


async def _probe(p: Phases, funds: tuple[str, ...], notes: dict[str, Any]) -> float:
    """Runs the probe; returns the background rate to measure under."""
    seconds = 3.0 if p.settings.quick else 5.0
    p.log(f"background probe: {PROBE_RATE:,.0f} appends/s offered for {seconds:g} s")
    spec = BackgroundSpec(p.stack.eventstore, funds, PROBE_RATE, seconds + 5)
    before = await progress(p.stack.database_url, funds)
    result = await _background(p, spec, seconds)
    after = await progress(p.stack.database_url, funds)
    appended, applied = rates(before, after)
    sustainable = min(result.rate, applied)
    rate = background_rate(result.rate, applied)
    slower = "event store" if result.rate <= applied else "projector"
    p.log(
        f"  event store took {result.rate:,.0f} appends/s (p50 {result.p50_ms:.1f} ms, "
        f"p99 {result.p99_ms:.1f} ms, in-flight cap hit {result.capped_share:.0%} of ticks); "
        f"projector applied {applied:,.0f}/s; sustainable {sustainable:,.0f}/s ({slower}), "
        f"background at {rate:,.0f}/s"
    )
    notes["probe"] = {
        "background": _plain(result),
        "appended_per_second": round(appended, 1),
        "applied_per_second": round(applied, 1),
        "sustainable_per_second": round(sustainable, 1),
        "slower": slower,
        "lag_after": after.lag,
    }
    if p.settings.visible_rate > 0:  # FUNDLEDGER_BENCH_VISIBLE_RATE, e.g. to compare runs
        rate = p.settings.visible_rate
        p.log(f"  background at {rate:,.0f}/s (FUNDLEDGER_BENCH_VISIBLE_RATE)")
    return rate


async def _background(p: Phases, spec: BackgroundSpec, seconds: float) -> BackgroundResult:
    with BackgroundLoad(spec) as load:
        if load.pid is not None:
            p.stack.pids["background"] = load.pid
        try:
            await asyncio.sleep(seconds)
        finally:
            p.stack.pids.pop("background", None)
        result = await asyncio.to_thread(load.stop)
    if result is None:
        raise RuntimeError("the background load did not report")
    return result


async def _settle(p: Phases, funds: tuple[str, ...]) -> dict[str, float]:
    relay_s, relay_left = await wait_relay_idle(p.stack.database_url, CATCH_UP_SECONDS)
    applied_s, lag = await wait_applied(p.stack.database_url, funds, CATCH_UP_SECONDS)
    p.log(
        f"  caught up: relay in {relay_s:.1f} s ({relay_left:,} left), "
        f"projector in {applied_s:.1f} s ({lag:,} left)"
    )
    return {
        "relay_seconds": round(relay_s, 1),
        "relay_left": relay_left,
        "projector_seconds": round(applied_s, 1),
        "projector_left": lag,
    }


def _plain(result: BackgroundResult | None) -> dict[str, Any] | None:
    return None if result is None else asdict(result)
