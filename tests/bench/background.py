"""A background load of appends at a fixed rate, in a process of its own.

Open loop: appends are started on a schedule of `rate` per second, whatever
the answers' latency, with at most `max_in_flight` outstanding. When the event
store cannot keep up, the cap is reached and the load runs at what the store
sustains at that concurrency; `BackgroundResult.rate` says what it was.
Bounded: it stops when asked or after `max_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event

import grpc
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger.eventstore.v1 import eventstore_pb2_grpc

from tests.bench.fund_events import valuation
from tests.bench.stats import percentile
from tests.bench.transport import open_channel
from tests.bench.workload_spec import CALL_TIMEOUT

TICK_SECONDS = 0.005
MAX_IN_FLIGHT = 64


@dataclass(frozen=True)
class BackgroundSpec:
    store: str  # the event store's host:port
    funds: tuple[str, ...]  # appended to round-robin
    rate: float  # appends per second
    max_seconds: float
    max_in_flight: int = MAX_IN_FLIGHT


@dataclass(frozen=True)
class BackgroundResult:
    appends: int
    errors: int
    first_error: str
    seconds: float
    rate: float  # appends completed per second
    p50_ms: float
    p99_ms: float
    capped_share: float  # share of ticks at which the in-flight cap held appends back


async def _run(spec: BackgroundSpec, stop: Event) -> BackgroundResult:
    latencies: list[float] = []
    errors = 0
    first_error = ""
    in_flight: set[asyncio.Task[None]] = set()
    async with open_channel(spec.store) as channel:
        stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)

        async def append(n: int) -> None:
            nonlocal errors, first_error
            request = pb.AppendToStreamRequest(
                stream_id=spec.funds[n % len(spec.funds)], events=[valuation(n)]
            )
            began = time.perf_counter()
            try:
                await stub.AppendToStream(request, timeout=CALL_TIMEOUT)
            except grpc.aio.AioRpcError as err:
                errors += 1
                first_error = first_error or f"{err.code().name}: {err.details()}"[:300]
                return
            latencies.append(time.perf_counter() - began)

        started = time.perf_counter()
        issued = ticks = capped = 0
        while not stop.is_set() and time.perf_counter() - started < spec.max_seconds:
            due = int((time.perf_counter() - started) * spec.rate) - issued
            room = spec.max_in_flight - len(in_flight)
            ticks += 1
            if due > room:
                capped += 1
                issued += due - room  # dropped from the schedule, not queued up
                due = room
            for _ in range(max(0, due)):
                task = asyncio.create_task(append(issued))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                issued += 1
            await asyncio.sleep(TICK_SECONDS)
        seconds = time.perf_counter() - started
        if in_flight:
            await asyncio.wait(in_flight, timeout=CALL_TIMEOUT + 1)
    ordered = sorted(latencies)
    return BackgroundResult(
        appends=len(ordered),
        errors=errors,
        first_error=first_error,
        seconds=seconds,
        rate=len(ordered) / seconds if seconds else 0.0,
        p50_ms=percentile(ordered, 50) * 1000,
        p99_ms=percentile(ordered, 99) * 1000,
        capped_share=capped / ticks if ticks else 0.0,
    )


def _main(spec: BackgroundSpec, stop: Event, conn: Connection) -> None:
    conn.send(asyncio.run(_run(spec, stop)))
    conn.close()


class BackgroundLoad:
    """Start with `with BackgroundLoad(spec) as load:`; `load.result` once it has ended."""

    def __init__(self, spec: BackgroundSpec) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._parent, child = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_main, args=(spec, self._stop, child), name="bench-background", daemon=True
        )
        self._process.start()
        child.close()
        self._spec = spec
        self.result: BackgroundResult | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def __enter__(self) -> BackgroundLoad:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> BackgroundResult | None:
        if self.result is not None or self._parent.closed:
            return self.result
        self._stop.set()
        if self._parent.poll(CALL_TIMEOUT + 10):
            self.result = self._parent.recv()
        self._process.join(5.0)
        if self._process.is_alive():
            self._process.terminate()  # only our own process, by its handle
            self._process.join(5.0)
        with contextlib.suppress(OSError):
            self._parent.close()
        return self.result
