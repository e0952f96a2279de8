"""Each service process of the session's whole stack holds only its own back-end credentials
(S3 keys only in storage), and no generated password reaches a log line or endpoints.json
(issue 10 §2b)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from fundledger_devstack.access import ACCESS
from fundledger_devstack.credentials import StackCredentials
from fundledger_devstack.stack_access import S3_ACCESS_KEY

from tests.support.full_stack import FullStack


def _service_environments(full_stack: FullStack) -> Iterator[tuple[str, dict[str, str]]]:
    """Each service process's environment, found by its gRPC port under /proc."""
    ports = {
        full_stack.address(service).rsplit(":", 1)[1]: service
        for service in ACCESS
        if service in full_stack.endpoints
    }
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            raw = (proc / "environ").read_bytes()
        except OSError:
            continue
        env = dict(
            item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item
        )
        if env.get("FUNDLEDGER_GRPC_PORT") in ports and "FUNDLEDGER_GRPC_HOST" in env:
            yield ports[env["FUNDLEDGER_GRPC_PORT"]], env


def test_each_service_holds_only_its_own_credentials(full_stack: FullStack) -> None:
    found = dict(_service_environments(full_stack))
    assert set(found) == set(ACCESS)
    for service, env in found.items():
        access = ACCESS[service]
        holds_s3 = any(var.startswith("FUNDLEDGER_S3_") for var in env)
        assert holds_s3 == access.s3, service
        if access.s3:
            assert env["FUNDLEDGER_S3_ACCESS_KEY"] == S3_ACCESS_KEY
        database = env.get("FUNDLEDGER_DATABASE_URL")
        if access.schema is None:
            assert database is None, service
        else:
            assert urlsplit(database).username == f"{access.schema}_service", service
        bus = env.get("FUNDLEDGER_NATS_URL")
        if access.bus is None:
            assert bus is None, service
        else:
            assert urlsplit(bus).username == access.bus.user, service
            assert env["FUNDLEDGER_NATS_INBOX_PREFIX"] == access.bus.inbox_prefix


def test_no_password_reaches_a_log_or_the_endpoints(full_stack: FullStack) -> None:
    credentials = StackCredentials(full_stack.stack_dir)
    secrets = [path.read_text().strip() for path in sorted(credentials.dir.iterdir())]
    assert secrets
    for path in credentials.dir.iterdir():
        assert path.stat().st_mode & 0o077 == 0, path
    assert credentials.dir.stat().st_mode & 0o077 == 0
    files = [*full_stack.stack_dir.glob("*.log"), full_stack.stack_dir / "endpoints.json"]
    files += [*full_stack.stack_dir.glob("*.out")]
    for path in files:
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not any(secret in text for secret in secrets), path
