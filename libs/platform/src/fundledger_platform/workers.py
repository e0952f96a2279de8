"""N worker processes serving one port: the supervisor.

One Python event loop uses one core at most. With ``FUNDLEDGER_WORKERS`` > 1,
``python -m <service>`` becomes this supervisor: it claims the port (port_claim.py), starts
the workers (``python -m <service>`` again, each told its index, the port and this run's
directory), serves the pod's one metrics endpoint (the workers' sums), restarts a worker that
dies (with a capped backoff), forwards SIGTERM/SIGINT and waits for every worker's drain.

The workers are whole services — each its own loop, pools, bus and event-store connections —
and the kernel spreads new connections over their listening sockets (SO_REUSEPORT). Worker 0
alone runs the background roles (relay, bus consumers, catch-up, schedulers: see each
service's bootstrap and WorkerSettings.leader), so they stay single-leader as with one process.

Workers are started fresh (``python -m``), never forked: grpc's threads do not survive a fork.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from fundledger_platform.metrics import (
    DISABLED,
    forget_worker,
    multiprocess_registry,
    start_metrics_server,
    stop_metrics_server,
)
from fundledger_platform.port_claim import PortClaimError, claim_port
from fundledger_platform.settings import ServerSettings, child_environment
from fundledger_platform.worker_process import READY_DIR, ready_file

log = logging.getLogger(__name__)

# A dead worker is restarted after 0.5 s, doubling per failure in a row up to 30 s.
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
# Restarts in a row that never reached serving before the supervisor gives up (exit 1: the
# pod restarts, and a crash loop shows in its status instead of hiding in a log).
MAX_FAILED_STARTS = 8
READY_POLL_SECONDS = 0.05
# Beyond the workers' own drain (shutdown_grace_seconds) before they are killed.
# (The pods' terminationGracePeriodSeconds covers preStop + grace + this.)
STOP_MARGIN_SECONDS = 10.0


class WorkersFailed(RuntimeError):
    """The workers could not be started (or kept running)."""


@dataclass
class _Slot:
    index: int
    process: asyncio.subprocess.Process | None = None
    failures: int = 0  # starts in a row that died before serving
    restarts: int = 0


class Supervisor:
    def __init__(self, module: str, settings: ServerSettings) -> None:
        self.module = module
        self.settings = settings
        self.count = settings.worker.count
        self._stopping = asyncio.Event()
        self._slots = [_Slot(i) for i in range(self.count)]
        self._run_dir = Path()  # made once the port is claimed
        self.port = 0
        self._clean_exit = True

    async def run(self) -> int:
        """Serve until SIGTERM/SIGINT; the exit code (0 = every worker drained cleanly)."""
        settings = self.settings
        try:
            claim = claim_port(settings.grpc_host, settings.grpc_port)
        except PortClaimError as err:
            log.error("%s", err)
            return 1
        self.port = claim.port
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT)
        for signum in signals:
            loop.add_signal_handler(signum, self._on_signal, signum)
        code = 1
        # Ready files and the workers' metric files; removed at exit.
        self._run_dir = Path(tempfile.mkdtemp(prefix=f"fundledger-{settings.service_name}-"))
        try:
            (self._run_dir / READY_DIR).mkdir()
            self._metrics_dir.mkdir()
            metrics_port = start_metrics_server(
                settings.metrics_port,
                settings.grpc_host,
                registry=multiprocess_registry(self._metrics_dir),
            )
            log.info(
                "%s: supervising %d workers on port %d",
                settings.service_name,
                self.count,
                self.port,
                extra={"grpc_port": self.port, "metrics_port": metrics_port, "workers": self.count},
            )
            code = await self._supervise()
        finally:
            # In finally: a failed start or a cancelled supervisor stops its workers too.
            await self._stop_all()
            for signum in signals:
                loop.remove_signal_handler(signum)
            await asyncio.to_thread(stop_metrics_server)
            claim.close()
            shutil.rmtree(self._run_dir, ignore_errors=True)
        log.info("%s: workers stopped", settings.service_name)
        return code if self._clean_exit else 1

    @property
    def _metrics_dir(self) -> Path:
        return self._run_dir / "metrics"

    async def _supervise(self) -> int:
        try:
            # All at once: each worker connects and warms up on its own core. The first that
            # dies before serving fails the start (the others are stopped, not awaited).
            starting = {asyncio.ensure_future(self._start(slot)) for slot in self._slots}
            try:
                while starting:
                    done, starting = await asyncio.wait(
                        starting, return_when=asyncio.FIRST_COMPLETED
                    )
                    if not all(task.result() for task in done):
                        if self._stopping.is_set():
                            return 0
                        raise WorkersFailed("a worker exited before serving: see its log lines")
            finally:
                for pending in starting:
                    pending.cancel()
            log.info("%s: %d workers serving", self.settings.service_name, self.count)
            watchers = [asyncio.create_task(self._watch(slot)) for slot in self._slots]
            try:
                await asyncio.gather(*watchers)
            finally:
                for task in watchers:
                    task.cancel()
        except WorkersFailed as err:
            log.error("%s: %s", self.settings.service_name, err)
            return 1
        return 0

    def _on_signal(self, signum: signal.Signals) -> None:
        if self._stopping.is_set():
            log.warning("%s again: already shutting down", signum.name)
            return
        log.info("%s received: stopping %d workers", signum.name, self.count)
        self._stopping.set()

    async def _start(self, slot: _Slot) -> bool:
        """Start the slot's worker and wait until it serves; False if it died first
        (or a stop came)."""
        ready = ready_file(self._run_dir, slot.index)
        ready.unlink(missing_ok=True)
        given = {
            "FUNDLEDGER_WORKERS": str(self.count),
            "FUNDLEDGER_WORKER_INDEX": str(slot.index),
            "FUNDLEDGER_WORKER_RUN_DIR": str(self._run_dir),
            "FUNDLEDGER_SUPERVISOR_PID": str(os.getpid()),
            "FUNDLEDGER_GRPC_PORT": str(self.port),
            # The supervisor serves the pod's one endpoint, from the workers' files.
            "FUNDLEDGER_METRICS_PORT": "-1",
        }
        if self.settings.metrics_port != DISABLED:
            # Only then: every metric update is a write to a mapped file in this mode.
            given["PROMETHEUS_MULTIPROC_DIR"] = str(self._metrics_dir)
        env = child_environment(given)
        slot.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            self.module,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            # Its own session: a Ctrl-C reaches the supervisor only, which stops the
            # workers in order (no restart races with a worker already exiting).
            start_new_session=True,
        )
        process = slot.process
        while not self._stopping.is_set():
            if process.returncode is not None:
                return False
            if _serving_pid(ready) == process.pid:
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), READY_POLL_SECONDS)
        return False

    async def _watch(self, slot: _Slot) -> None:
        """Restart the slot's worker whenever it dies, until the supervisor stops."""
        while True:
            assert slot.process is not None
            stop = asyncio.ensure_future(self._stopping.wait())
            exited = asyncio.ensure_future(slot.process.wait())
            await asyncio.wait({stop, exited}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if self._stopping.is_set():
                exited.cancel()
                return
            code = slot.process.returncode
            forget_worker(self._metrics_dir, slot.process.pid)
            while True:
                slot.failures += 1
                if slot.failures > MAX_FAILED_STARTS:
                    raise WorkersFailed(
                        f"worker {slot.index} failed {MAX_FAILED_STARTS} restarts in a row"
                    )
                delay = min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** (slot.failures - 1))
                log.warning(
                    "worker %d (pid %d) exited with code %s; restarting in %.1f s",
                    slot.index,
                    slot.process.pid,
                    code,
                    delay,
                    extra={"worker_index": slot.index, "exit_code": code},
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                if self._stopping.is_set():
                    return
                slot.restarts += 1
                if await self._start(slot):
                    slot.failures = 0
                    log.info("worker %d restarted (pid %d)", slot.index, slot.process.pid)
                    break
                if self._stopping.is_set():
                    return
                code = slot.process.returncode
                forget_worker(self._metrics_dir, slot.process.pid)

    async def _stop_all(self) -> None:
        """SIGTERM every live worker, wait for their drain, SIGKILL the ones that outlast it."""
        self._stopping.set()
        live = [s.process for s in self._slots if s.process and s.process.returncode is None]
        for process in live:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.shutdown_grace_seconds + STOP_MARGIN_SECONDS
        for process in live:
            try:
                await asyncio.wait_for(process.wait(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                log.error("worker pid %d still running after its grace: killing it", process.pid)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        self._clean_exit = self._clean_exit and all(p.returncode == 0 for p in live)


def _serving_pid(ready: Path) -> int | None:
    try:
        return int(ready.read_text())
    except (OSError, ValueError):
        return None


async def supervise(module: str, settings: ServerSettings) -> int:
    return await Supervisor(module, settings).run()
