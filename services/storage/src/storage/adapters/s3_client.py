"""The aioboto3 S3 client: configuration, the bucket, and error translation."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import AsyncExitStack
from typing import Any

import aioboto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from storage.config import S3Settings
from storage.service_layer.errors import object_store_unavailable

# Concurrent HTTP connections to the object store (uploads, downloads, verify).
MAX_POOL_CONNECTIONS = 32


def client_config(settings: S3Settings) -> Config:
    return Config(
        region_name=settings.region,
        signature_version="s3v4",
        # Path style (http://host/bucket/key) for SeaweedFS and MinIO, whose
        # endpoints have no per-bucket DNS names.
        s3={"addressing_style": "path" if settings.path_style else "auto"},
        # We send our own SHA-256 (ChecksumSHA256) where it matters and verify
        # downloads ourselves, so botocore need not add its default CRC32 to
        # every request (a second pass over each part, and aws-chunked bodies
        # that not every S3-compatible store accepts) nor validate responses.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        max_pool_connections=MAX_POOL_CONNECTIONS,
    )


async def open_client(settings: S3Settings, stack: AsyncExitStack) -> Any:
    """An S3 client that lives until `stack` closes."""
    session = aioboto3.Session()
    client = session.client(
        "s3",
        endpoint_url=settings.endpoint,
        region_name=settings.region,
        aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key,
        config=client_config(settings),
    )
    return await stack.enter_async_context(client)


def error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def http_status(err: ClientError) -> int:
    return int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def is_not_found(err: ClientError) -> bool:
    return error_code(err) in ("404", "NoSuchKey", "NotFound", "NoSuchBucket") or (
        http_status(err) == 404
    )


@contextlib.contextmanager
def s3_errors(action: str) -> Iterator[None]:
    """Object-store failures as UNAVAILABLE (our dependency failed, not the caller)."""
    try:
        yield
    except ClientError as err:
        raise object_store_unavailable(f"{action}: {error_code(err)}") from err
    except BotoCoreError as err:  # connection refused, timeouts, …
        raise object_store_unavailable(f"{action}: {type(err).__name__}") from err


async def ensure_bucket(client: Any, bucket: str, region: str) -> None:
    """Creates the bucket unless it exists (safe when replicas race to create it)."""
    try:
        await client.head_bucket(Bucket=bucket)
        return
    except ClientError as err:
        if not is_not_found(err):
            raise
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":  # S3 refuses an explicit us-east-1 constraint
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        await client.create_bucket(**kwargs)
    except ClientError as err:
        if error_code(err) != "BucketAlreadyOwnedByYou":  # another account's: fail
            raise
