"""Services run as worker processes, for the multi-worker tests: start one as
`python -m <module>` with its JSON log lines collected, and look at its sockets in /proc."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WAIT_SECONDS = 60.0  # an upper bound for slow machines, not a timed expectation
CHANNELS = 32
LISTEN, ESTABLISHED = "0A", "01"


@dataclass
class Service:
    process: asyncio.subprocess.Process
    lines: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    reader: asyncio.Task[None] | None = None

    async def wait_for(self, predicate: Any, what: str) -> dict[str, Any]:
        """The first log line (seen so far or next) that matches; fails if the process exits."""
        seen = 0
        for _ in range(int(WAIT_SECONDS / 0.05)):
            for line in self.lines[seen:]:
                if predicate(line):
                    return line
            seen = len(self.lines)
            if self.process.returncode is not None and self.reader and self.reader.done():
                break
            await asyncio.sleep(0.05)
        raise AssertionError(f"never logged {what}; last lines: {self.lines[-10:]}")

    def messages(self) -> list[str]:
        return [str(line.get("message")) for line in self.lines]

    async def serving(self, workers: int) -> None:
        """Until every worker serves (the supervisor says so, or the one process does);
        sets ``port``."""
        if workers > 1:
            done = f"{workers} workers serving"
            line = await self.wait_for(lambda ln: str(ln.get("message")).endswith(done), done)
            assert line["worker"] == "supervisor"
            line = next(ln for ln in self.lines if "workers" in ln and "grpc_port" in ln)
        else:
            line = await self.wait_for(lambda ln: "serving gRPC on" in str(ln.get("message")), "")
        self.port = int(line["grpc_port"])


def environment(dsn: str, nats_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDLEDGER_")}
    env.update(
        {
            "FUNDLEDGER_DATABASE_URL": dsn,
            "FUNDLEDGER_NATS_URL": nats_url,
            "FUNDLEDGER_GRPC_HOST": "127.0.0.1",
            "FUNDLEDGER_GRPC_PORT": "0",
            "FUNDLEDGER_METRICS_PORT": "0",
            "FUNDLEDGER_WORKERS": "2",
            "FUNDLEDGER_LOG_LEVEL": "INFO",
            "FUNDLEDGER_SHUTDOWN_GRACE_SECONDS": "5",
            **extra,
        }
    )
    return env


async def start(module: str, env: dict[str, str]) -> Service:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, env=env, stderr=asyncio.subprocess.PIPE
    )
    service = Service(process)

    async def read() -> None:
        assert process.stderr is not None
        while raw := await process.stderr.readline():
            try:
                service.lines.append(json.loads(raw))
            except ValueError:
                service.lines.append({"message": raw.decode(errors="replace").rstrip()})

    service.reader = asyncio.create_task(read())
    return service


async def stop(service: Service) -> None:
    """SIGTERM (the supervisor drains its workers), SIGKILL if that takes too long."""
    if service.process.returncode is None:
        service.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(service.process.wait(), WAIT_SECONDS)
        except TimeoutError:
            service.process.kill()
            await service.process.wait()
    if service.reader is not None:
        await service.reader


def sockets(port: int, state: str) -> set[int]:
    """Inodes of the TCP sockets on local ``port`` in ``state``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            cols = row.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == state:
                inodes.add(int(cols[9]))
    return inodes


def owners(inodes: set[int], pids: list[int]) -> dict[int, int]:
    """pid -> how many of ``inodes`` it holds."""
    counts: dict[int, int] = {}
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        held = 0
        for fd in fd_dir.iterdir() if fd_dir.exists() else ():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and int(target[8:-1]) in inodes:
                held += 1
        counts[pid] = held
    return counts


def children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == parent:
                found.append(int(entry.name))
    return found


async def eventually(check: Any, what: str) -> None:
    for _ in range(int(WAIT_SECONDS / 0.1)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never true: {what}")


async def equals(count: Any, expected: int) -> bool:
    return int(await count) == expected


async def value(value: int) -> int:
    return value
