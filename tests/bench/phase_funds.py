"""Phase `funds` (issue 3): the projector and the snapshotter, as their own processes.

50 funds of 100 events are appended through the event store; once the projector
has them all and the snapshotter its every-50 snapshots (v50, v100), in order:
an echo baseline in the same phase, GetFundState, GetFundStateAt of v49 and v99
(49 events replayed each: from nothing, and from the v50 snapshot), manual
CreateSnapshot at versions nobody snapshotted yet, and append → visible in
GetFundState while a background load of appends flows (visibility.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.bench.bus_stats import consumer_stats
from tests.bench.fund_events import EVENTS_PER_FUND
from tests.bench.fund_seed import (
    NotReadyError,
    fund_ids,
    seed_funds,
    wait_projected,
    wait_snapshots,
)
from tests.bench.fund_workloads import SNAPSHOT_EVERY
from tests.bench.relay_idle import wait_relay_idle
from tests.bench.services import ServiceError, running_services
from tests.bench.time_travel_rows import time_travel_rows
from tests.bench.visibility import visibility

if TYPE_CHECKING:
    from tests.bench.phases import Phases

FUNDS = 50
READY_SECONDS = 120.0
RELAY_DRAIN_SECONDS = 180.0
# Time travel: just below each multiple of 50, so 49 events are replayed.
STATE_AT_VERSIONS = (49, 99)
# Manual snapshots: every version that has none yet, going down within each block.
SNAPSHOT_VERSIONS = tuple(v for v in range(EVENTS_PER_FUND - 1, 0, -1) if v % SNAPSHOT_EVERY != 0)
# The c1 figure's funds (~1,470 pairs; ~170/s for 6 s uses ~1,000); c16 gets the other 35.
SNAPSHOT_FUNDS_C1 = 15


async def fund_services(p: Phases) -> None:
    if p.stack.nats_url is None:
        p.log("phase funds skipped: needs the throwaway stack (its NATS and database)")
        p.notes["skipped_funds"] = "target mode"
        return
    p.log("fund services: projector and snapshotter as their own processes")
    try:
        async with running_services(p.stack, ("projector", "snapshotter"), p.log) as addr:
            try:
                await _measure(p, addr["projector"], addr["snapshotter"])
            finally:
                await _bus_notes(p)
    except (ServiceError, NotReadyError) as err:
        p.log(f"phase funds stopped: {err}")
        p.notes["failed_funds"] = str(err)
    waited, left = await wait_relay_idle(p.stack.database_url, RELAY_DRAIN_SECONDS)
    p.notes["funds_relay_drain"] = {"seconds": round(waited, 1), "unpublished": left}
    p.log(f"  relay drained in {waited:.1f} s ({left:,} events still unpublished)")


async def _measure(p: Phases, projector: str, snapshotter: str) -> None:
    funds = fund_ids(p.tag, FUNDS)
    seconds = await seed_funds(p.stack.eventstore, funds)
    p.log(f"  appended {FUNDS} funds x {EVENTS_PER_FUND} events in {seconds:.1f} s")
    projected = await wait_projected(projector, funds, READY_SECONDS)
    snapshots = (SNAPSHOT_EVERY, 2 * SNAPSHOT_EVERY)
    snapped = await wait_snapshots(snapshotter, funds, snapshots, READY_SECONDS, p.log)
    p.log(f"  projected after {projected:.1f} s more, snapshots v50/v100 after {snapped:.1f} s")
    p.notes["funds_seed"] = {
        "funds": FUNDS,
        "events_per_fund": EVENTS_PER_FUND,
        "append_seconds": round(seconds, 2),
        "projected_wait_seconds": round(projected, 2),
        "snapshots_wait_seconds": round(snapped, 2),
    }
    m = p.meter
    for c in (1, 16):
        await m.measure(f"echo.funds.c{c}", f"echo 200 B, c{c} (funds phase)", p.work("echo"), c)
    work = p.work("fundstate", projector, funds=funds)
    for c in (1, 16):
        await m.measure(f"fundstate.c{c}", f"GetFundState, c{c}", work, c)
    work = p.work("stateat", snapshotter, funds=funds, versions=STATE_AT_VERSIONS)
    for c in (1, 16):
        label = f"GetFundStateAt v49/v99 (49 events replayed), c{c}"
        await m.measure(f"stateat.c{c}", label, work, c)
    await time_travel_rows(p, snapshotter)
    for c, share in ((1, funds[:SNAPSHOT_FUNDS_C1]), (16, funds[SNAPSHOT_FUNDS_C1:])):
        work = p.work(
            "snapshot", snapshotter, funds=share, versions=SNAPSHOT_VERSIONS, clients_total=c
        )
        label = f"CreateSnapshot at a new version (1-49 events replayed), c{c}"
        await m.measure(f"snapshot.c{c}", label, work, c)
    await visibility(p, projector, funds)


async def _bus_notes(p: Phases) -> None:
    assert p.stack.nats_url is not None
    stream = p.stack.bus_env["FUNDLEDGER_BUS_STREAM"]
    try:
        stats = await consumer_stats(p.stack.nats_url, stream, ("projector", "snapshotter"))
    except Exception as err:  # diagnostics only
        stats = {"error": f"{type(err).__name__}: {err}"}
    p.notes["funds_bus"] = stats
    p.log(f"  bus: {stats}")
