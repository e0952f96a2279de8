"""A stand-in FundLedger service for testing the stack runner (not a mock of a server).

It honours the same contract as a real service: `python -m fake_grpc_service migrate`
applies its "migration" (its own schema, `fake`) to FUNDLEDGER_DATABASE_URL and exits 0;
without arguments it serves the standard gRPC health service on
FUNDLEDGER_GRPC_HOST:FUNDLEDGER_GRPC_PORT, says SERVING only once its migration is visible,
and drains on SIGTERM. Like any service the stack does not know, it gets a database role of
its own and no NATS user or S3 keys (fundledger_devstack.access).

FAKE_SERVICE_FAIL=migrate|start makes that step fail, for the runner's error paths.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import asyncpg
import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

REQUIRED = (
    "FUNDLEDGER_GRPC_HOST",
    "FUNDLEDGER_GRPC_PORT",
    "FUNDLEDGER_METRICS_PORT",
    "FUNDLEDGER_DATABASE_URL",
)


async def migrate() -> None:
    if os.environ.get("FAKE_SERVICE_FAIL") == "migrate":
        raise SystemExit("fake migration failure")
    conn = await asyncpg.connect(os.environ["FUNDLEDGER_DATABASE_URL"])
    try:
        await conn.execute(
            "CREATE SCHEMA IF NOT EXISTS fake; CREATE TABLE IF NOT EXISTS fake.migrated (id int)"
        )
    finally:
        await conn.close()
    print("migrated", flush=True)


async def serve() -> None:
    missing = [name for name in REQUIRED if not os.environ.get(name)]
    if missing:
        raise SystemExit(f"missing settings: {missing}")
    if os.environ.get("FAKE_SERVICE_FAIL") == "start":
        raise SystemExit("fake start failure")
    conn = await asyncpg.connect(os.environ["FUNDLEDGER_DATABASE_URL"])
    try:
        await conn.execute("SELECT 1 FROM fake.migrated")  # fails if not migrated
    finally:
        await conn.close()

    server = grpc.aio.server()
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    address = f"{os.environ['FUNDLEDGER_GRPC_HOST']}:{os.environ['FUNDLEDGER_GRPC_PORT']}"
    server.add_insecure_port(address)
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    print(f"serving on {address}", flush=True)

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await health_servicer.enter_graceful_shutdown()
    await server.stop(grace=2)
    print("graceful shutdown complete", flush=True)


if __name__ == "__main__":
    asyncio.run(migrate() if sys.argv[1:] == ["migrate"] else serve())
