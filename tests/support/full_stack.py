"""One whole local stack per test session, for the CLI, the demo and the load smoke test.
Secure by default, as `make run` is: `full_stack.secure.channel(address)` gives a TLS channel
carrying an admin's token.

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
from fundledger_devstack.security import StackSecurity
from fundledger_devstack.stack import Stack
from fundledger_devstack.stack_config import StackConfig

from tests.support.secure import SecureEnv


@dataclass(frozen=True)
class FullStack:
    stack_dir: Path
    endpoints: dict[str, str]
    # The stack is secure like `make run`: TLS from its CA, tokens from its dev issuer.
    security: StackSecurity

    @property
    def secure(self) -> SecureEnv:
        return SecureEnv(self.security)

    def address(self, service: str) -> str:
        return self.endpoints[service]


@pytest.fixture(scope="session")
def full_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FullStack]:
    stack_dir = tmp_path_factory.mktemp("full-stack")
    out = io.StringIO()
    stack = Stack(StackConfig.on_free_ports(stack_dir), out=out)
    try:
        stack.start()
    except BaseException:
        print(out.getvalue())
        raise
    try:
        assert stack.security is not None
        yield FullStack(stack_dir, stack.endpoints(), stack.security)
    finally:
        stack.stop()
