"""One whole local stack per test session, for the CLI, the demo and the load smoke test.

Started in-process with the devstack runner (every server and service is a real child
process), every port picked free, state in a temporary directory. The fixture yields
the same mapping `make run` writes to endpoints.json, and that file's directory.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fundledger_devstack.services import SERVICES
from fundledger_devstack.stack import Stack
from fundledger_devstack.stack_config import (
    NATS_MONITOR_PORT_VAR,
    NATS_PORT_VAR,
    PG_PORT_VAR,
    S3_PORT_VAR,
    STACK_DIR_VAR,
    StackConfig,
    grpc_port_var,
    metrics_port_var,
)


@dataclass(frozen=True)
class FullStack:
    stack_dir: Path
    endpoints: dict[str, str]

    def address(self, service: str) -> str:
        return self.endpoints[service]


@pytest.fixture(scope="session")
def full_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FullStack]:
    stack_dir = tmp_path_factory.mktemp("full-stack")
    environ = {STACK_DIR_VAR: str(stack_dir)}
    for var in (PG_PORT_VAR, NATS_PORT_VAR, NATS_MONITOR_PORT_VAR, S3_PORT_VAR):
        environ[var] = "0"
    for spec in SERVICES:
        environ[grpc_port_var(spec)] = "0"
        environ[metrics_port_var(spec)] = "0"
    out = io.StringIO()
    stack = Stack(StackConfig.from_env(environ), out=out)
    try:
        stack.start()
    except BaseException:
        print(out.getvalue())
        raise
    try:
        yield FullStack(stack_dir, stack.endpoints())
    finally:
        stack.stop()
