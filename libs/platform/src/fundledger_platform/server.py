"""The one server shape every FundLedger service runs.

``build_server`` assembles a grpc.aio server with the interceptors (telemetry,
metrics, error mapping), size limits, health and reflection. The service only
registers its servicers and says what "ready" means. Shutdown follows the
order a rolling deploy needs: health NOT_SERVING (balancers stop routing),
``server.stop(grace)`` (no new calls; in-flight calls may finish), then the
service's own resources (pools, bus), then a telemetry flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
from grpc_health.v1 import health
from grpc_reflection.v1alpha import reflection

from fundledger_platform.auth.authorization import authorization_interceptor
from fundledger_platform.auth.interceptor import authentication_interceptors
from fundledger_platform.health import HealthReporter, ReadinessCheck
from fundledger_platform.interceptors import (
    ErrorMappingInterceptor,
    MetricsInterceptor,
    RequestDecodingInterceptor,
    StreamClosingInterceptor,
)
from fundledger_platform.logs import configure_logging
from fundledger_platform.metrics import start_metrics_server, stop_metrics_server
from fundledger_platform.settings import ServerSettings
from fundledger_platform.telemetry import server_interceptors, setup_telemetry, shutdown_telemetry
from fundledger_platform.tls import ServerCertificates, server_certificates
from fundledger_platform.worker_process import announce_ready

__all__ = ["ReadinessCheck", "ServiceServer", "build_server", "cancelling", "serve_until_signal"]

logger = logging.getLogger(__name__)

ShutdownCallback = Callable[[], Awaitable[None]]


CANCEL_WAIT_SECONDS = 15.0
"""How long a shutdown waits for a cancelled background task: a task stuck in a call that
ignores cancellation must not keep the process (or a pod's termination) from finishing."""


def cancelling(tasks: Sequence[asyncio.Task[Any]]) -> ShutdownCallback:
    """A shutdown step that cancels a service's background tasks and waits for each, bounded."""

    async def cancel() -> None:
        for task in tasks:
            task.cancel()
        if not tasks:
            return
        done, pending = await asyncio.wait(tasks, timeout=CANCEL_WAIT_SECONDS)
        for task in pending:
            logger.error(
                "background task %s did not stop within %.0f s",
                task.get_name(),
                CANCEL_WAIT_SECONDS,
            )
        for task in done:
            with contextlib.suppress(asyncio.CancelledError):
                task.result()  # a task's own failure surfaces, as before

    return cancel


class ServiceServer:
    """A built server: start it, read its port, stop it (once, gracefully)."""

    def __init__(
        self,
        settings: ServerSettings,
        server: grpc.aio.Server,
        health: HealthReporter,
        on_shutdown: Sequence[ShutdownCallback],
    ) -> None:
        self.settings = settings
        self.server = server
        self.health = health
        self._on_shutdown = list(on_shutdown)
        self._port: int | None = None
        self._metrics_port: int | None = None
        # The TLS certificates being served (re-read when their files change); None = plaintext.
        self.certificates: ServerCertificates | None = None
        self._stop_task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The port actually bound (differs from the settings when they say 0)."""
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def metrics_port(self) -> int | None:
        """The metrics endpoint's port, None when disabled or not started."""
        return self._metrics_port

    @property
    def address(self) -> str:
        """``host:port`` for a client channel."""
        return _host_port(self.settings.grpc_host, self.port)

    async def start(self) -> None:
        if self._port is not None:
            raise RuntimeError("server already started")
        address = _host_port(self.settings.grpc_host, self.settings.grpc_port)
        # TLS when configured (a bad certificate file stops the start here, naming its setting).
        certificates = server_certificates(self.settings.tls)
        try:
            if certificates is None:
                port = self.server.add_insecure_port(address)
            else:
                port = self.server.add_secure_port(address, certificates.credentials())
        except RuntimeError as err:  # grpc's message only says "set GRPC_VERBOSITY"
            raise RuntimeError(f"could not bind gRPC on {address} (port in use?)") from err
        if port == 0:
            raise RuntimeError(f"could not bind gRPC on {address}")
        self._port = port
        self.certificates = certificates
        # Metrics listen where gRPC does (0.0.0.0 in a pod) so Prometheus can scrape them.
        self._metrics_port = start_metrics_server(
            self.settings.metrics_port, self.settings.grpc_host
        )
        # Health is set before the first call can arrive: a probe must never
        # see SERVING from a server whose database is down.
        await self.health.refresh()
        await self.server.start()
        self.health.start()
        announce_ready(self.settings.worker)
        logger.info(
            "%s serving gRPC on %s (%s)",
            self.settings.service_name,
            self.address,
            _transport(self.settings),
            extra={
                "grpc_port": self._port,
                "metrics_port": self._metrics_port,
                "leader": self.settings.worker.leader,
                "pid": os.getpid(),
            },
        )

    async def stop(self, grace: float | None = None) -> None:
        """Drain and release everything; ``grace`` None cancels in-flight calls at once.

        Safe to call twice or concurrently: later callers wait for the first stop.
        """
        if self._stop_task is None:
            self._stop_task = asyncio.create_task(self._stop(grace), name="server-stop")
        # shield: a caller being cancelled must not abandon the drain half-way.
        await asyncio.shield(self._stop_task)

    async def _stop(self, grace: float | None) -> None:
        logger.info("%s stopping (grace %ss)", self.settings.service_name, grace)
        await self.health.shutdown()
        await self.server.stop(grace)
        for callback in self._on_shutdown:
            try:
                await callback()
            except Exception:
                # Keep going: one failed close must not keep the others open.
                logger.exception("shutdown callback %r failed", callback)
        if self._metrics_port is not None:
            # Blocking (the exporter thread takes up to half a second to notice).
            await asyncio.to_thread(stop_metrics_server)
        await asyncio.to_thread(shutdown_telemetry)
        logger.info("%s stopped", self.settings.service_name)

    async def wait_for_termination(self) -> None:
        """Return once the server has stopped; cancelling this wait is harmless.

        The shield matters: grpc.aio awaits its internal "shutdown completed"
        future directly here, so cancelling a bare wait cancels that future,
        and a later ``stop(grace)`` then dies at once with CancelledError
        instead of draining — in-flight calls would be cut off.
        """
        await asyncio.shield(self.server.wait_for_termination())


def build_server(
    settings: ServerSettings,
    *,
    register: Callable[[grpc.aio.Server], None],
    service_names: Sequence[str],
    readiness: ReadinessCheck | None = None,
    on_shutdown: Sequence[ShutdownCallback] = (),
    max_message_bytes: int = 16 * 1024 * 1024,
    readiness_interval_seconds: float = 2.0,
) -> ServiceServer:
    """Assemble (not start) the server; also sets up logging and tracing (idempotent)."""
    configure_logging(settings.service_name, settings.log_level)
    setup_telemetry(settings.service_name, settings.otlp_endpoint)
    # Read now: a missing or invalid policy file stops the service at start.
    policy = settings.authorization.load() if settings.authorization is not None else None
    # Order matters: the first interceptor is the outermost. Stream closing
    # must enclose tracing (it closes tracing's generators in the right
    # context); tracing wraps the rest so the span covers the whole call;
    # metrics read the final code that error mapping produced just inside them.
    interceptors = [
        StreamClosingInterceptor(),
        *server_interceptors(),
        MetricsInterceptor(),
        ErrorMappingInterceptor(),
        # Inside error mapping (its Unauthenticated becomes the status) and so inside metrics
        # and tracing (refused calls are counted and traced); none while auth is off.
        *authentication_interceptors(settings, policy=policy),
        # With authentication on, its guard also checks each RPC's permission. Without it
        # there is no principal, so this interceptor refuses every declared permission.
        *(
            [authorization_interceptor(policy)]
            if policy is not None and settings.auth is None
            else []
        ),
        # Innermost: a request grpc could not decode (invalid UTF-8 in a string) becomes
        # INVALID_ARGUMENT here, after authentication and authorization have decided.
        RequestDecodingInterceptor(),
    ]
    server = grpc.aio.server(
        interceptors=interceptors,
        options=[
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
            # gRPC binds with SO_REUSEPORT by default: a second instance (a
            # stale `make run`) would silently share the port and get half the
            # calls. Fail to start instead. Workers of one supervisor share it on
            # purpose; the supervisor's claim (port_claim.py) keeps strangers out.
            ("grpc.so_reuseport", 1 if settings.worker.supervised else 0),
        ],
    )
    register(server)
    health_reporter = HealthReporter(service_names, readiness, readiness_interval_seconds)
    health_reporter.register(server)
    reflection.enable_server_reflection(
        [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    return ServiceServer(settings, server, health_reporter, on_shutdown)


async def serve_until_signal(server: ServiceServer) -> None:
    """Start, run until SIGTERM/SIGINT (or until the server stops), then drain and return."""
    await server.start()
    loop = asyncio.get_running_loop()
    received = asyncio.Event()

    def on_signal(signum: signal.Signals) -> None:
        if received.is_set():
            logger.warning("%s again: already shutting down", signum.name)
            return
        logger.info("%s received: shutting down", signum.name)
        received.set()

    signals = (signal.SIGTERM, signal.SIGINT)
    for signum in signals:
        loop.add_signal_handler(signum, on_signal, signum)
    waiters = {
        asyncio.create_task(received.wait()),
        asyncio.create_task(server.wait_for_termination()),
    }
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waiters:
            task.cancel()
        try:
            # In finally: a cancelled caller (asyncio.run on Ctrl-C) drains too. The handlers
            # stay during the drain: a repeated signal is logged, not fatal. (A worker gets
            # one SIGTERM per thread of its dying supervisor: PR_SET_PDEATHSIG fires as each
            # thread exits. Without its handler the second one killed the drain half-way.)
            await server.stop(server.settings.shutdown_grace_seconds)
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)


def _transport(settings: ServerSettings) -> str:
    if not settings.tls.server_enabled:
        return "plaintext"
    return "mutual TLS" if settings.tls.require_client_cert else "TLS"


def _host_port(host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):  # a bare IPv6 address
        return f"[{host}]:{port}"
    return f"{host}:{port}"
