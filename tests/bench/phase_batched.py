"""Phase `batched`: ReadStream in pages (the default for every client since issue 11).

The same reads as phase `reads` (50 events from one of the 100-event streams, 1,000 from
one of the 1,000-event streams, same seeded tables), in pages instead of one event per
message, each right after a baseline that moves the same bytes with no work: a unary echo
of one 50-event page, and of one 1,000-event page (the server's default page holds up to
1,000 events, so a 1,000-event read is one message).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.bench.read_pages import PAGED_LABEL

if TYPE_CHECKING:
    from tests.bench.phases import Phases

# A RecordedEvent in a page: phases.EVENT_BYTES (what the streaming baselines count per
# event) plus its tag and length. The seeded events are smaller (~227 B serialized, a
# 50-event page 11,480 B); the bytes hardly matter (a 14 KB echo ~0.9x a 200 B one).
PAGED_EVENT_BYTES = 283


async def batched_reads(p: Phases) -> None:
    small = await p.seeded("small")
    work = p.work("read", events=50, tag=small.tag, streams=small.streams)
    if "small" not in p.primed:  # phase `reads` did not run: prime as it would have
        await p.prime(work)
        p.primed.add("small")
    p.log(f"ReadStream in {PAGED_LABEL}, each after its same-bytes baseline")
    for events, layout in ((50, small), (1000, await p.seeded("long"))):
        work = p.work("read", events=events, tag=layout.tag, streams=layout.streams)
        page = events * PAGED_EVENT_BYTES
        for c in (1, 16):
            echo = p.work("echo", payload_bytes=page)
            label = f"echo {page:,} B (one {events:,}-event page), c{c}"
            await p.meter.measure(f"echo-page{events}.c{c}", label, echo, c)
            label = f"ReadStream {events:,} events, {PAGED_LABEL}, c{c}"
            await p.meter.measure(f"read{events}b.c{c}", label, work, c)
