"""Services run as worker processes, for the multi-worker tests: start one as
`python -m <module>` with its JSON log lines collected, and look at its sockets in /proc."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WAIT_SECONDS = 60.0  # an upper bound for slow machines, not a timed expectation
CHANNELS = 32


@dataclass
class Service:
    process: asyncio.subprocess.Process
    # Its stderr (the JSON log lines of the supervisor and every worker). A file, not a pipe:
    # workers outlive a killed supervisor, and a pipe read through the supervisor's
    # subprocess transport may be closed when it exits, cutting the workers' last lines.
    log: Path
    port: int = 0

    @property
    def lines(self) -> list[dict[str, Any]]:
        found = []
        for raw in self.log.read_text(errors="replace").splitlines():
            try:
                found.append(json.loads(raw))
            except ValueError:
                found.append({"message": raw.rstrip()})
        return found

    async def wait_for(self, predicate: Any, what: str) -> dict[str, Any]:
        """The first log line that matches; fails once the process has exited without it."""
        for _ in range(int(WAIT_SECONDS / 0.05)):
            exited = self.process.returncode is not None
            for line in self.lines:
                if predicate(line):
                    return line
            if exited:
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


async def start(module: str, env: dict[str, str], logs: Path) -> Service:
    """``python -m <module>``, its stderr in a new file under ``logs``."""
    descriptor, name = tempfile.mkstemp(prefix=f"{module}-", suffix=".log", dir=logs)
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", module, env=env, stderr=descriptor
        )
    finally:
        os.close(descriptor)  # the child has its own copy
    return Service(process, Path(name))


async def stop(service: Service) -> None:
    """SIGTERM (the supervisor drains its workers), SIGKILL if that takes too long."""
    if service.process.returncode is None:
        service.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(service.process.wait(), WAIT_SECONDS)
        except TimeoutError:
            service.process.kill()
            await service.process.wait()


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
