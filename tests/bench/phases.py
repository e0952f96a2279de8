"""The measurements of a run, in the order they must happen.

Order matters because seeded history must be older than anything appended
(positions grow with time): the stream reads and the scale check load their
data first, dated in the past; the fund services, allocation and the appends
come after, stamped now. The appends come last so that none of the services
the earlier phases start is still running (or catching up) while they run.
The newer phases live in phase_*.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from tests.bench.effective_appends import measure_effective_appends
from tests.bench.layout import Layout
from tests.bench.loader import LoadError, load
from tests.bench.measure import Meter
from tests.bench.payloads import RAW_TABLE_DDL
from tests.bench.pg_work import APPENDED, RAW_INSERTED
from tests.bench.phase_allocation import allocation
from tests.bench.phase_auth import authentication_cost
from tests.bench.phase_batched import batched_reads
from tests.bench.phase_chain import chain_cost
from tests.bench.phase_funds import fund_services
from tests.bench.phase_peer import eventsourcing_peer
from tests.bench.phase_workers import worker_scaling
from tests.bench.settings import BenchSettings
from tests.bench.stack import Stack
from tests.bench.workloads import Workload

Log = Callable[[str], None]
PER_STREAM = 100
EVENT_BYTES = 280  # about a RecordedEvent as ReadStream sends it
# Seeded tables: streams, events per stream, (from, to) days ago.
SEEDS = {"small": (100, PER_STREAM, (400, 399)), "long": (16, 1000, (399, 398))}


class Phases:
    def __init__(self, meter: Meter, stack: Stack, settings: BenchSettings, log: Log) -> None:
        self._m = meter
        self._stack = stack
        self._settings = settings
        self._log = log
        self._tag = uuid.uuid4().hex[:8]
        # Seeded history, oldest first: the small table, the 1,000-event streams, the big load.
        self._now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        self.notes: dict[str, Any] = {"run_tag": self._tag}
        self._seeded: dict[str, Layout] = {}
        self.primed: set[str] = set()  # seeded tables whose reads were primed

    # What the phases in phase_*.py use.
    @property
    def meter(self) -> Meter:
        return self._m

    @property
    def stack(self) -> Stack:
        return self._stack

    @property
    def settings(self) -> BenchSettings:
        return self._settings

    @property
    def tag(self) -> str:
        return self._tag

    def log(self, message: str) -> None:
        self._log(message)

    async def seeded(self, name: str) -> Layout:
        """A seeded table of SEEDS, loaded on first use."""
        if name not in self._seeded:
            streams, per_stream, days_ago = SEEDS[name]
            what = f"{streams} streams x {per_stream:,} events"
            self._log(f"seeding the {name} table: {what}")
            self._seeded[name] = await self._load(name, streams, per_stream, days_ago)
        return self._seeded[name]

    def work(self, kind: Any, endpoint: str | None = None, **fields: Any) -> Workload:
        default = {
            "echo": self._stack.echo,
            "stream": self._stack.echo,
            "insert": self._stack.database_url,
            "unnest": self._stack.database_url,
        }.get(kind, self._stack.eventstore)
        return Workload(kind, endpoint or default, **fields)

    async def run(self, phase: str) -> None:
        # The phases: a new one is registered here, with its name in settings.PHASES (which
        # fixes the order phases run in). Phases living in phase_*.py take `self`.
        steps: dict[str, tuple[Callable[[], Awaitable[None]], ...]] = {
            "echo": (self.echo, self.echo_bare, self.streams),
            "reads": (self.small_reads,),
            "batched": (lambda: batched_reads(self),),
            "scale": (self.scale,),
            "funds": (lambda: fund_services(self),),
            "allocation": (lambda: allocation(self),),
            "appends": (self.appends,),
            "peer": (lambda: eventsourcing_peer(self),),
            "auth": (lambda: authentication_cost(self),),
            "workers": (lambda: worker_scaling(self),),
            "chain": (lambda: chain_cost(self),),
        }
        try:
            for step in steps[phase]:
                await step()
        except LoadError as err:  # a target whose log is younger than the seeded history
            self._log(f"phase {phase} skipped: {err}")
            self.notes[f"skipped_{phase}"] = str(err)

    async def echo(
        self, concurrencies: tuple[int, ...] = (1, 16, 32), prefix: str = "echo"
    ) -> None:
        self._log(f"gRPC echo baseline ({prefix})")
        for c in concurrencies:
            await self._m.measure(f"{prefix}.c{c}", f"echo 200 B, c{c}", self.work("echo"), c)

    async def echo_bare(self) -> None:
        work = self.work("echo", self._stack.echo_bare)
        await self._m.measure("echo-bare.c16", "echo 200 B, plain grpc.aio server, c16", work, 16)

    async def streams(self) -> None:
        """Server streaming of pre-built messages the size of a recorded event."""
        self._log("gRPC streaming baseline: N copies of a 280-byte message")
        for count in (50, 1000):
            for c in (1, 16):
                work = self.work("stream", events=count, payload_bytes=EVENT_BYTES)
                label = f"stream {count} x {EVENT_BYTES} B, c{c}"
                await self._m.measure(f"stream{count}.c{c}", label, work, c)
        for c in (1, 16):
            work = self.work("stream", self._stack.echo_bare, events=50, payload_bytes=EVENT_BYTES)
            label = f"stream 50 x {EVENT_BYTES} B, plain grpc.aio server, c{c}"
            await self._m.measure(f"stream50-bare.c{c}", label, work, c)

    async def small_reads(self) -> None:
        layout = await self.seeded("small")
        self.notes["small_table_events"] = await self._count_events()
        # One event per message (asked for: pages are the default, phase `batched`).
        work = self.work(
            "read", events=50, tag=layout.tag, streams=layout.streams, one_per_message=True
        )
        await self.prime(work)  # as the large-table reads are, so the two compare
        self.primed.add("small")
        for c in (1, 16):
            await self._m.measure(f"read50.c{c}", f"ReadStream 50 events, c{c}", work, c)
        layout = await self.seeded("long")
        for c in (1, 16):
            work = self.work(
                "read", events=1000, tag=layout.tag, streams=layout.streams, one_per_message=True
            )
            await self._m.measure(f"read1000.c{c}", f"ReadStream 1,000 events, c{c}", work, c)

    async def scale(self) -> None:
        streams = self._settings.big_events // PER_STREAM
        if streams == 0:
            self._log("scale check skipped (FUNDLEDGER_BENCH_BIG_EVENTS=0)")
            return
        self._log(f"loading the large table: {streams:,} streams x {PER_STREAM} events")
        layout = await self._load("big", streams, PER_STREAM, days_ago=(366, 1))
        self.notes["big_table_events"] = await self._count_events()
        await self.echo((1, 16), prefix="echo.after-load")
        work = self.work(
            "read", events=50, tag=layout.tag, streams=layout.streams, one_per_message=True
        )
        # Each server connection's first reads after the load pay one-off costs (catalog
        # entries of every day partition, a generic plan built for comparison): see
        # docs/benchmarks.md. A steady state is what the scale check compares.
        await self.prime(work)
        for c in (1, 16):
            label = f"ReadStream 50 events, large table, c{c}"
            await self._m.measure(f"read50.big.c{c}", label, work, c)

    async def appends(self) -> None:
        """Each append figure right after its raw-insert baseline at the same concurrency,
        so that a change in this shared machine's load hits both alike. Every figure here
        also counts PostgreSQL's work per event (pg_work.py)."""
        self._log("AppendToStream (expected version ANY), each after its raw-insert baseline")
        conn = await asyncpg.connect(self._stack.database_url)
        try:
            await conn.execute(RAW_TABLE_DDL)
        finally:
            await conn.close()
        for c in (1, 8, 32):
            work = self.work("insert", tag=self._tag)
            label = f"raw asyncpg BEGIN; INSERT one event-shaped row; COMMIT, c{c}"
            await self._m.measure(f"insert.c{c}", label, work, c, pg_counted_by=RAW_INSERTED)
            work = self.work("append", tag=f"{self._tag}own{c}")
            label = f"append 1 event, own stream, c{c}"
            await self._m.measure(f"append.own.c{c}", label, work, c, pg_counted_by=APPENDED)
            if c == 32:  # issue 12: the same appends with effective_at set, right after
                await measure_effective_appends(self.work, self._m.measure, self._tag, APPENDED)
            if c > 1:
                work = self.work("append", tag=f"{self._tag}sh{c}", shared_streams=8)
                label = f"append 1 event, 8 shared streams, c{c}"
                await self._m.measure(f"shared8.c{c}", label, work, c, pg_counted_by=APPENDED)
        for c in (1, 4):
            if c == 4:  # the batches' baseline (issue 11): the same rows, one INSERT each
                work = self.work("unnest", tag=f"{self._tag}u{c}", events=100)
                await self._m.measure(
                    f"unnest100.c{c}",
                    f"raw asyncpg BEGIN; INSERT 100 rows SELECT FROM unnest; COMMIT, c{c}",
                    work,
                    c,
                    unit="events/s",
                    events_per_call=100,
                    pg_counted_by=RAW_INSERTED,
                )
            work = self.work("append", tag=f"{self._tag}b{c}", events=100)
            await self._m.measure(
                f"batch100.c{c}",
                f"append 100-event batches, c{c}",
                work,
                c,
                unit="events/s",
                events_per_call=100,
                pg_counted_by=APPENDED,
            )

    async def prime(self, work: Workload) -> None:
        seconds = 2.0 if self._settings.quick else 5.0
        self._log(f"priming the reads for {seconds:g} s at c16 (unmeasured)")
        await self._m.prime(work, 16, seconds)

    async def _load(
        self, name: str, streams: int, per_stream: int, days_ago: tuple[int, int]
    ) -> Layout:
        layout, report = await load(
            self._stack.database_url,
            tag=f"{self._tag}{name}",
            streams=streams,
            per_stream=per_stream,
            start=self._now - timedelta(days=days_ago[0]),
            end=self._now - timedelta(days=days_ago[1]),
            connections=self._settings.load_connections,
            log=self._log,
        )
        self.notes[f"load_{name}"] = asdict(report)
        rate = report.events / report.insert_seconds if report.insert_seconds else 0
        self._log(
            f"  loaded {report.events:,} events in {report.insert_seconds:.1f} s "
            f"({rate:,.0f} events/s); vacuum+analyze {report.vacuum_seconds:.1f} s; "
            f"{report.partitions_created} day partitions made in {report.partition_seconds:.1f} s"
        )
        return layout

    async def _count_events(self) -> int:
        conn = await asyncpg.connect(self._stack.database_url)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM eventstore.events"))
        finally:
            await conn.close()
