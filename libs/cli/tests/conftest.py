"""Fixtures of the CLI tests: the CLI driven against the session's whole stack.

`cli` runs `fundledger …` in-process (typer's CliRunner) with --stack-dir pointing at the
full_stack fixture's endpoints.json, and reads the event store back with plain stubs so a
test checks what was really written, not what the CLI printed. The stack is secure, as
`make run`'s is: the CLI finds its CA and mints its own dev token from the stack dir; the
read-back stubs call over TLS with an admin's token.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import grpc
import pytest
from fundledger.eventstore.v1 import events_pb2, eventstore_pb2, eventstore_pb2_grpc
from fundledger_cli.app import app
from typer.testing import CliRunner, Result

from tests.support.full_stack import FullStack

# Variables that would point the CLI somewhere else than the test stack.
_UNSET = {
    name: None
    for name in (
        "FUNDLEDGER_STACK_DIR",
        "FUNDLEDGER_EVENTSTORE_ADDRESS",
        "FUNDLEDGER_PROJECTOR_ADDRESS",
        "FUNDLEDGER_SNAPSHOTTER_ADDRESS",
        "FUNDLEDGER_ALLOCATION_ADDRESS",
        "FUNDLEDGER_STORAGE_ADDRESS",
        "FUNDLEDGER_NATS_URL",
        "FUNDLEDGER_CLI_TIMEOUT",
        "FUNDLEDGER_TOKEN",
        "FUNDLEDGER_TOKEN_FILE",
        "FUNDLEDGER_CA_FILE",
    )
}


class CliDriver:
    def __init__(self, stack: FullStack) -> None:
        self.stack = stack
        self._runner = CliRunner()
        self._channel = stack.secure.sync_channel(stack.address("event-store"))
        self.eventstore = eventstore_pb2_grpc.EventStoreServiceStub(self._channel)

    def run(
        self,
        *args: str | Path,
        expect: int | None = 0,
        root: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> Result:
        argv = ["--stack-dir", str(self.stack.stack_dir), "--timeout", "30", *root]
        result = self._runner.invoke(app, [*argv, *map(str, args)], env={**_UNSET, **(env or {})})
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        if expect is not None:
            assert result.exit_code == expect, (
                f"exit code {result.exit_code}, expected {expect}; output:\n{result.output}"
            )
        return result

    def events(self, stream_id: str) -> list[events_pb2.RecordedEvent]:
        """Every event of the stream, read straight from the event store."""
        request = eventstore_pb2.ReadStreamRequest(stream_id=stream_id)
        try:
            responses = list(self.eventstore.ReadStream(request, timeout=30))
        except grpc.RpcError as err:
            if err.code() is grpc.StatusCode.NOT_FOUND:
                return []
            raise
        return [e for page in responses for e in page.events]

    def version(self, stream_id: str) -> int:
        try:
            info = self.eventstore.GetStreamInfo(
                eventstore_pb2.GetStreamInfoRequest(stream_id=stream_id), timeout=30
            )
        except grpc.RpcError as err:
            if err.code() is grpc.StatusCode.NOT_FOUND:
                return 0
            raise
        return int(info.version)

    def close(self) -> None:
        self._channel.close()


@pytest.fixture(scope="session")
def cli(full_stack: FullStack) -> Iterator[CliDriver]:
    driver = CliDriver(full_stack)
    try:
        yield driver
    finally:
        driver.close()


@pytest.fixture
def fund_id() -> str:
    return f"fund-{uuid.uuid4()}"


FUND_CREATED = (
    '{"name":"Acme Ventures I","committed_capital_cents":10000000000,'
    '"currency":"USD","vintage_year":2021}'
)


@pytest.fixture
def created_fund(cli: CliDriver, fund_id: str) -> str:
    """A fund with two companies (caps 5,000,000.00 and 3,000,000.00) at version 3."""
    cli.run(
        "events", "append", fund_id, "-t", "FUND_CREATED", "-d", FUND_CREATED, "-e", "no-stream"
    )
    for company, cap in (("c-1", 500_000_000), ("c-2", 300_000_000)):
        data = f'{{"company_id":"{company}","name":"{company} Inc","allocation_cap_cents":{cap}}}'
        cli.run("events", "append", fund_id, "-t", "COMPANY_ADDED", "-d", data)
    return fund_id
