"""The FundLedger load scenarios, one locust task each (run by tests/load/run.py).

    FUNDLEDGER_LOADTEST_SEED=.loadtest/seed.json PYTHONPATH=. \\
        locust -f tests/load/locustfile.py --headless -u 100 -r 20 -t 60s

Every virtual user reads the shared read funds and writes only its own slot of the seed
(its fund, its documents fund, its own upload names), so users never contend on an
expected version. Each user runs every scenario once when it starts, then picks tasks by
weight with a think time of FUNDLEDGER_LOADTEST_WAIT seconds ("min,max", default 0.5,1.5).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import logging
import os
import random
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import grpc.experimental.gevent as grpc_gevent  # type: ignore[import-not-found]  # no stubs

# Before any grpc object exists: grpc's sync channels must yield to gevent's hub,
# or one user's blocking call would stall every other user in this process.
grpc_gevent.init_gevent()

# Locust puts this file's folder on sys.path, not the repository root.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from fundledger.allocation.v1 import allocation_pb2 as apb  # noqa: E402
from fundledger.allocation.v1 import allocation_pb2_grpc  # noqa: E402
from fundledger.eventstore.v1 import eventstore_pb2 as es  # noqa: E402
from fundledger.eventstore.v1 import eventstore_pb2_grpc  # noqa: E402
from fundledger.projector.v1 import projector_pb2 as ppb  # noqa: E402
from fundledger.projector.v1 import projector_pb2_grpc  # noqa: E402
from fundledger.snapshotter.v1 import snapshotter_pb2 as spb  # noqa: E402
from fundledger.snapshotter.v1 import snapshotter_pb2_grpc  # noqa: E402
from fundledger.storage.v1 import storage_pb2 as stpb  # noqa: E402
from fundledger.storage.v1 import storage_pb2_grpc  # noqa: E402
from google.protobuf.timestamp_pb2 import Timestamp  # noqa: E402
from locust import between, task  # noqa: E402

from tests.bench.fund_events import valuation  # noqa: E402
from tests.bench.workload_spec import CALL_TIMEOUT  # noqa: E402
from tests.load.access import credentials_for, security_of  # noqa: E402
from tests.load.grpc_user import GrpcUser  # noqa: E402
from tests.load.operations import OPERATION_OF_METHOD  # noqa: E402
from tests.load.seed_data import ReadFund, SeedData  # noqa: E402

SEED_VAR = "FUNDLEDGER_LOADTEST_SEED"
WAIT_VAR = "FUNDLEDGER_LOADTEST_WAIT"
UPLOAD_BYTES = 4096
TIMELINE_PAGE = 50
CHANGED_COMPANIES = 2

log = logging.getLogger(__name__)
_user_numbers = itertools.count()


@functools.cache
def seed_data() -> SeedData:
    path = os.environ.get(SEED_VAR)
    if not path:
        raise RuntimeError(f"{SEED_VAR} must name the seed file (python -m tests.load.seed)")
    return SeedData.read(Path(path))


def _wait_bounds() -> tuple[float, float]:
    low, _, high = os.environ.get(WAIT_VAR, "0.5,1.5").partition(",")
    return float(low), float(high or low)


def _timestamp(text: str) -> Timestamp:
    stamp = Timestamp()
    stamp.FromJsonString(text)
    return stamp


class FundUser(GrpcUser):
    operations = OPERATION_OF_METHOD
    wait_time = between(*_wait_bounds())

    def on_start(self) -> None:
        seed = seed_data()
        self.number = next(_user_numbers)
        if self.number >= len(seed.users):
            log.warning("user %d shares a seeded slot: seed as many users as run", self.number)
        slot = seed.users[self.number % len(seed.users)]
        self.read_funds = seed.read_funds
        self.fund_id, self.version = slot.fund_id, slot.version
        self.planned = dict.fromkeys(slot.companies, 2_000_000_00)
        self.docs_entity_id = slot.docs_entity_id
        self.owner = f"load-{seed.run_id}-u{self.number}"
        self.rng = random.Random(f"{seed.run_id}-{self.number}")
        self.counter = itertools.count(1)
        # A secure stack: this user calls as the person its uploads and reallocations name.
        secured = Path(seed.stack_dir) if seed.stack_dir else None
        self.credentials = credentials_for(security_of(secured), self.owner)
        where = seed.endpoints
        # Any: the generated stubs' attributes are untyped.
        self.store: Any = eventstore_pb2_grpc.EventStoreServiceStub(
            self.channel(where["event-store"])
        )
        self.store_plain: Any = eventstore_pb2_grpc.EventStoreServiceStub(
            self.plain_channel(where["event-store"])
        )
        self.projector: Any = projector_pb2_grpc.ProjectorServiceStub(
            self.channel(where["projector"])
        )
        self.snapshots: Any = snapshotter_pb2_grpc.SnapshotterServiceStub(
            self.channel(where["snapshotter"])
        )
        self.allocation: Any = allocation_pb2_grpc.AllocationServiceStub(
            self.channel(where["allocation"])
        )
        self.storage: Any = storage_pb2_grpc.StorageServiceStub(self.channel(where["storage"]))
        # Every scenario once (think time between them, as between tasks), so even a
        # short run reports each of them.
        for scenario in self.scenarios():
            scenario()
            self.wait()  # type: ignore[no-untyped-call]  # untyped in locust

    def scenarios(self) -> tuple[Callable[[], None], ...]:
        return (
            self.current_state,
            self.historical_state,
            self.timeline,
            self.snapshot_create,
            self.append,
            self.reallocation_preview,
            self.reallocation_commit,
            self.upload_small,
        )

    def _read_fund(self) -> ReadFund:
        return self.rng.choice(self.read_funds)

    def _call(self, rpc: Any, request: Any) -> Any:
        """The response, or None when the call failed (already reported as a failure)."""
        try:
            return rpc(request, timeout=CALL_TIMEOUT)
        except grpc.RpcError as err:
            if isinstance(err, grpc.Call) and err.code() == grpc.StatusCode.ABORTED:
                self._resync()
            return None

    def _resync(self) -> None:
        """After a version conflict (not expected: only this user writes its fund), go on
        from the fund's real version; the call is not a scenario and is not reported."""
        info = self.store_plain.GetStreamInfo(
            es.GetStreamInfoRequest(stream_id=self.fund_id), timeout=CALL_TIMEOUT
        )
        self.version = int(info.version)

    def _proposals(self, commit: bool) -> list[apb.Proposal]:
        table = dict(self.planned)
        for company in self.rng.sample(sorted(table), CHANGED_COMPANIES):
            table[company] = self.rng.randrange(1_000_000, 5_000_000) * 100
        if commit:
            self.planned = table
        return [apb.Proposal(company_id=c, planned_reserves_cents=a) for c, a in table.items()]

    @task(30)
    def current_state(self) -> None:
        request = ppb.GetFundStateRequest(fund_id=self._read_fund().fund_id)
        self._call(self.projector.GetFundState, request)

    @task(20)
    def historical_state(self) -> None:
        fund = self._read_fund()
        if self.rng.random() < 0.5:
            request = spb.GetFundStateAtRequest(
                fund_id=fund.fund_id, at_version=self.rng.randint(1, fund.version)
            )
        else:
            at = _timestamp(self.rng.choice(fund.times))
            request = spb.GetFundStateAtRequest(fund_id=fund.fund_id, at_time=at)
        self._call(self.snapshots.GetFundStateAt, request)

    @task(15)
    def timeline(self) -> None:
        fund = self._read_fund()
        request = spb.GetTimelineRequest(
            fund_id=fund.fund_id,
            start_time=_timestamp(fund.times[0]),
            end_time=_timestamp(fund.times[-1]),
            page_size=TIMELINE_PAGE,
        )
        self._call(self.snapshots.GetTimeline, request)

    @task(5)
    def snapshot_create(self) -> None:
        self._call(self.snapshots.CreateSnapshot, spb.CreateSnapshotRequest(fund_id=self.fund_id))

    @task(10)
    def append(self) -> None:
        request = es.AppendToStreamRequest(
            stream_id=self.fund_id,
            expected_version=self.version,
            events=[valuation(next(self.counter))],
        )
        response = self._call(self.store.AppendToStream, request)
        if response is not None:
            self.version = int(response.last_version)

    @task(8)
    def reallocation_preview(self) -> None:
        request = apb.PreviewReallocationRequest(
            fund_id=self.fund_id,
            expected_version=self.version,
            proposals=self._proposals(commit=False),
        )
        self._call(self.allocation.PreviewReallocation, request)

    @task(4)
    def reallocation_commit(self) -> None:
        request = apb.CommitReallocationRequest(
            fund_id=self.fund_id,
            expected_version=self.version,
            proposals=self._proposals(commit=True),
            reason="load test",
            user_id=self.owner,
            idempotency_key=str(uuid.uuid4()),
        )
        response = self._call(self.allocation.CommitReallocation, request)
        if response is not None:
            self.version = int(response.new_version)

    @task(5)
    def upload_small(self) -> None:
        number = next(self.counter)
        content = (f"{self.owner} note {number}\n".encode() * UPLOAD_BYTES)[:UPLOAD_BYTES]
        metadata = stpb.FileMetadata(
            owner_user_id=self.owner,
            entity_type="fund",
            entity_id=self.docs_entity_id,
            file_name=f"note-{number}.txt",
            content_type="text/plain",
            expected_sha256=hashlib.sha256(content).hexdigest(),
        )

        def messages() -> Iterator[stpb.UploadFileRequest]:
            yield stpb.UploadFileRequest(metadata=metadata)
            yield stpb.UploadFileRequest(chunk=content)

        self._call(self.storage.UploadFile, messages())
