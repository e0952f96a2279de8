"""Phase `allocation` (issue 4): PreviewReallocation and CommitReallocation on a
fund of 50 companies, allocation running as its own process (`python -m
allocation`), after an echo baseline measured in the same phase.

At c1: the
targets are a service's latency, not its latency under queueing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.bench.services import ServiceError, running_services

if TYPE_CHECKING:
    from tests.bench.phases import Phases


async def allocation(p: Phases) -> None:
    p.log("allocation as its own process: preview and commit on a fund of 50 companies")
    try:
        async with running_services(p.stack, ("allocation",), p.log) as addr:
            m = p.meter
            await m.measure("echo.alloc.c1", "echo 200 B, c1 (allocation phase)", p.work("echo"), 1)
            for kind in ("preview", "commit"):
                work = p.work(kind, addr["allocation"], store=p.stack.eventstore, tag=p.tag)
                label = f"{kind.capitalize()}Reallocation, 50 companies, 5 rows changed, c1"
                await m.measure(f"{kind}.c1", label, work, 1)
    except ServiceError as err:
        p.log(f"phase allocation stopped: {err}")
        p.notes["failed_allocation"] = str(err)
