"""The stack the storage tests run against, its settings, and a raw S3 client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from storage.bootstrap import Storage
from storage.config import MIB, S3Settings, Settings

from tests.support.secure import SecureEnv
from tests.support.server_settings import loopback_server_settings

# The smallest part S3 (and SeaweedFS) accepts: a file over 10 MiB needs 3 parts.
TEST_PART_BYTES = 5 * MIB


@dataclass
class Stack:
    """One storage service on a bucket of its own, beside a real event store."""

    storage: Storage
    # Any: the generated stubs are typed for the sync API, these are grpc.aio ones.
    # `api` calls as alice, an admin of tenant "dev" (SecureEnv.token's default).
    api: Any  # fundledger.storage.v1 StorageServiceStub
    store_stub: Any  # fundledger.eventstore.v1 EventStoreServiceStub
    s3: Any  # our own aioboto3 S3 client: the service's back door
    bucket: str
    dsn: str
    settings: Settings
    secure: SecureEnv
    address: str
    _connect: Callable[[str, str | None], Any] = field(repr=False)

    def api_as(
        self, subject: str, *, roles: Sequence[str] = ("fund-manager",), tenant: str | None = "dev"
    ) -> Any:
        """A StorageServiceStub calling as the person `subject` (closed by the fixture)."""
        return self._connect(self.address, self.secure.token(subject, roles=roles, tenant=tenant))

    def api_with(self, token: str | None) -> Any:
        """A StorageServiceStub sending `token` (None: no token at all)."""
        return self._connect(self.address, token)


StackFactory = Callable[..., Awaitable[Stack]]


def storage_settings(
    dsn: str, eventstore_address: str, endpoint: str, region: str, bucket: str
) -> Settings:
    return Settings(
        server=loopback_server_settings("storage"),
        database_url=dsn,
        eventstore_address=eventstore_address,
        db_pool_min=1,
        db_pool_max=5,
        s3=S3Settings(
            endpoint=endpoint,
            region=region,
            bucket=bucket,
            access_key="fundledger",
            secret_key="fundledger-secret",
            path_style=True,
        ),
        max_file_bytes=32 * MIB,
        part_bytes=TEST_PART_BYTES,
        chunk_bytes=64 * 1024,
        verify_progress_every=2,
        orphan_grace_seconds=0.0,
    )
