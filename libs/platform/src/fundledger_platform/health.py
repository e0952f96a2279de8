"""gRPC health that follows the service's dependencies.

The standard ``grpc.health.v1.Health`` service answers SERVING for the whole
server ("") and for each of its services only while the readiness check
passes (database reachable, bus connected …). Load balancers and Kubernetes
probes then stop sending work to an instance that could not do it, instead of
letting its callers collect UNAVAILABLE errors.

The same answer is exported as the gauge ``fundledger_health_serving`` (1
SERVING, 0 NOT_SERVING, per gRPC service), so an alert can fire on a process
that is up but not ready, which ``up`` alone cannot see (docs/metrics.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from prometheus_client import Gauge

logger = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[bool]]

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

HEALTH_SERVING = Gauge(
    "fundledger_health_serving",
    "1 while the gRPC health service answers SERVING for this service, 0 while NOT_SERVING"
    " (dependencies not ready, or shutting down).",
    ["service"],
    # Several workers per pod (fundledger_platform.workers): 0 if any live worker is not serving.
    multiprocess_mode="livemin",
)


class HealthReporter:
    """Owns the health servicer and the background task that keeps it current."""

    def __init__(
        self,
        service_names: Sequence[str],
        readiness: ReadinessCheck | None,
        interval_seconds: float,
    ) -> None:
        self.servicer = HealthServicer()
        self._names = ["", *service_names]
        # One gauge child per gRPC service (the server-wide "" only when there
        # is no named one): the same label values as the call metrics' service.
        self._gauges = [HEALTH_SERVING.labels(name) for name in service_names or [""]]
        self._readiness = readiness
        self._interval = interval_seconds
        # A check slower than this counts as a failure: a hung dependency is
        # as unusable as a refused one.
        self._timeout = max(interval_seconds, 1.0)
        self._ready: bool | None = None
        self._task: asyncio.Task[None] | None = None

    def register(self, server: grpc.aio.Server) -> None:
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, server)

    @property
    def ready(self) -> bool:
        return bool(self._ready)

    async def refresh(self) -> bool:
        """Run the readiness check once and publish its result."""
        ready, problem = await self._check()
        if ready != self._ready:
            if ready:
                logger.info("ready: health SERVING")
            else:
                logger.warning("not ready: health NOT_SERVING (%s)", problem)
        self._ready = ready
        status = SERVING if ready else NOT_SERVING
        for name in self._names:
            await self.servicer.set(name, status)
        self._set_gauges(ready)
        return ready

    def _set_gauges(self, serving: bool) -> None:
        for gauge in self._gauges:
            gauge.set(1 if serving else 0)

    async def _check(self) -> tuple[bool, str]:
        if self._readiness is None:
            return True, ""
        try:
            async with asyncio.timeout(self._timeout):
                ok = bool(await self._readiness())
        except TimeoutError:
            return False, f"readiness check took over {self._timeout:.1f}s"
        except Exception as err:
            return False, f"readiness check raised {err!r}"
        return ok, "" if ok else "readiness check returned False"

    def start(self) -> None:
        """Keep checking in the background (only useful when there is a check)."""
        if self._readiness is not None and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="health-readiness")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.refresh()

    async def shutdown(self) -> None:
        """Stop checking and answer NOT_SERVING for good (start of a graceful stop)."""
        if self._task is not None:
            self._task.cancel()
            # wait() rather than await: a cancellation of *our* caller must
            # still propagate, and the task's own CancelledError must not.
            await asyncio.wait([self._task])
            self._task = None
        await self.servicer.enter_graceful_shutdown()
        self._set_gauges(False)
