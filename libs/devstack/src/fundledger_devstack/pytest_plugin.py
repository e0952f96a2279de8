"""pytest fixtures: throwaway real servers on free ports, started only when a test asks.

Registered by the repository's conftest.py (`pytest_plugins = [...]`). Session servers
live under pytest's tmp dir and stop at the end of the session; tests get isolation
from fresh databases (`fresh_dsn`) and, when they break the bus, from a NATS server of
their own (`fresh_nats`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fundledger_devstack.nats import NatsServer
from fundledger_devstack.ports import free_port
from fundledger_devstack.postgres import PostgresServer
from fundledger_devstack.s3 import S3Server


@pytest.fixture(scope="session")
def devstack_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's directory for server data and logs (look here when a test fails)."""
    return tmp_path_factory.mktemp("devstack")


@pytest.fixture(scope="session")
def pg_server(devstack_tmp: Path) -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session. Use `fresh_dsn` for a database of your own."""
    server = PostgresServer(devstack_tmp / "postgres", free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def nats_server(devstack_tmp: Path) -> Iterator[NatsServer]:
    """A NATS JetStream server shared by the session: use unique stream names per test."""
    server = NatsServer(devstack_tmp / "nats", free_port(), free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server(devstack_tmp: Path) -> Iterator[S3Server]:
    """An S3 server (SeaweedFS) shared by the session: use unique bucket names per test."""
    server = S3Server(devstack_tmp / "s3", free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_dsn(pg_server: PostgresServer, request: pytest.FixtureRequest) -> str:
    """The DSN of a brand-new empty database on `pg_server`, used by this test only."""
    # The test's name in the database name makes leftovers easy to attribute when
    # inspecting a failed run; the random suffix keeps it unique (63 chars max).
    stem = re.sub(r"[^a-z0-9_]+", "_", request.node.name.lower())[:40].strip("_")
    return pg_server.create_database(f"t_{stem}_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def fresh_nats(tmp_path: Path) -> Iterator[NatsServer]:
    """A NATS server for this test alone: kill it, restart it, wipe its store at will."""
    server = NatsServer(tmp_path / "nats", free_port(), free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()
