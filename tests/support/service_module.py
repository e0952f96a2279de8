"""`python -m <service> …` as a real subprocess against a test database."""

from __future__ import annotations

import asyncio
import os
import sys


async def run_service_module(module: str, dsn: str, *args: str) -> tuple[int, str]:
    """Exit code and combined output of `python -m <module> <args>` with FUNDLEDGER_DATABASE_URL
    set to `dsn` (bounded: 60 s)."""
    env = {**os.environ, "FUNDLEDGER_DATABASE_URL": dsn, "FUNDLEDGER_LOG_LEVEL": "WARNING"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(60):
        output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")
