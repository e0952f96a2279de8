"""SIGTERM on a real service process: in-flight calls finish, then everything closes."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import grpc
from platform_probe import bytes_method

SCRIPT = Path(__file__).with_name("serve_probe.py")


async def _log_lines(stream: asyncio.StreamReader) -> list[dict[str, object]]:
    lines = []
    while raw := await stream.readline():
        lines.append(json.loads(raw))
    return lines


async def test_sigterm_drains_then_exits_cleanly() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPT), stderr=asyncio.subprocess.PIPE
    )
    assert process.stderr is not None
    try:
        port = None
        while port is None:
            raw = await asyncio.wait_for(process.stderr.readline(), 30)
            assert raw, "the service exited before serving"
            port = json.loads(raw).get("grpc_port")
        rest = asyncio.create_task(_log_lines(process.stderr))

        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            slow = asyncio.ensure_future(bytes_method(channel, "unary_unary", "Unary")(b"slow:1.0"))
            await asyncio.sleep(0.3)  # the call is in flight
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(slow, 10) == b"done"

        assert await asyncio.wait_for(process.wait(), 15) == 0
        messages = [str(line["message"]) for line in await rest]
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert any("SIGTERM received" in m for m in messages)
    assert messages.index("resources closed") < messages.index("probe stopped")
    assert not [m for m in messages if "Traceback" in m]
