"""Phase `batched`: ReadStream with batch_size=500 (pages of events per message).

The same reads as phase `reads` (50 events from one of the 100-event streams,
1,000 from one of the 1,000-event streams, same seeded tables), each next to a
baseline that moves the same bytes with no work: a unary echo of one 50-event
page, and a stream of two 500-event pages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.bench.phases import Phases

BATCH_SIZE = 500
# A RecordedEvent in a page: phases.EVENT_BYTES (what the streaming baselines count per
# event) plus its tag and length. The seeded events are smaller (~227 B serialized, a
# 50-event page 11,480 B); the bytes hardly matter (a 14 KB echo ~0.9x a 200 B one).
PAGED_EVENT_BYTES = 283


async def batched_reads(p: Phases) -> None:
    small = await p.seeded("small")
    work = p.work("read", events=50, tag=small.tag, streams=small.streams, batch_size=BATCH_SIZE)
    if "small" not in p.primed:  # phase `reads` did not run: prime as it would have
        await p.prime(work)
        p.primed.add("small")
    p.log(f"ReadStream with batch_size={BATCH_SIZE}, each after its same-bytes baseline")
    page50 = 50 * PAGED_EVENT_BYTES
    for c in (1, 16):
        echo = p.work("echo", payload_bytes=page50)
        label = f"echo {page50:,} B (one 50-event page), c{c}"
        await p.meter.measure(f"echo-page50.c{c}", label, echo, c)
        label = f"ReadStream 50 events, batch_size={BATCH_SIZE}, c{c}"
        await p.meter.measure(f"read50b.c{c}", label, work, c)
    long = await p.seeded("long")
    work = p.work("read", events=1000, tag=long.tag, streams=long.streams, batch_size=BATCH_SIZE)
    page500 = BATCH_SIZE * PAGED_EVENT_BYTES
    for c in (1, 16):
        stream = p.work("stream", events=2, payload_bytes=page500)
        label = f"stream 2 x {page500:,} B (two 500-event pages), c{c}"
        await p.meter.measure(f"stream-page1000.c{c}", label, stream, c)
        label = f"ReadStream 1,000 events, batch_size={BATCH_SIZE}, c{c}"
        await p.meter.measure(f"read1000b.c{c}", label, work, c)
