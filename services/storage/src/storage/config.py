"""Storage settings, read once at start-up from FUNDLEDGER_* variables."""

from __future__ import annotations

from dataclasses import dataclass, field

from fundledger_platform.settings import (
    DEFAULT_EVENTSTORE_ADDRESS,
    ServerSettings,
    database_url_from_env,
    env_bool,
    env_float,
    env_int,
    env_name,
    env_str,
)

MIB = 1024 * 1024
# S3 refuses multipart parts under 5 MiB (all but the last; SeaweedFS answers
# EntityTooSmall at CompleteMultipartUpload), allows at most 5 GiB per part and
# at most 10,000 parts per upload.
S3_MIN_PART_BYTES = 5 * MIB
S3_MAX_PART_BYTES = 5 * 1024 * MIB
S3_MAX_PARTS = 10_000
# A download chunk travels in one gRPC message, and gRPC clients refuse
# messages over 4 MiB unless told otherwise: stay well below that.
MAX_CHUNK_BYTES = 3 * MIB


@dataclass(frozen=True)
class S3Settings:
    endpoint: str
    region: str
    bucket: str
    access_key: str
    secret_key: str = field(repr=False)  # never in a log line or a traceback
    path_style: bool


@dataclass(frozen=True)
class Settings:
    server: ServerSettings
    database_url: str
    eventstore_address: str
    db_pool_min: int
    db_pool_max: int
    s3: S3Settings
    max_file_bytes: int
    # Files up to this size go up in one PutObject; larger ones go multipart,
    # in parts of exactly this size (the last one smaller).
    part_bytes: int
    chunk_bytes: int
    verify_progress_every: int
    # Objects younger than this are not reported as orphans: an upload in
    # flight has its object before its record commits.
    orphan_grace_seconds: float

    def __post_init__(self) -> None:
        if self.part_bytes < S3_MIN_PART_BYTES or self.part_bytes > S3_MAX_PART_BYTES:
            raise ValueError(
                f"{env_name('STORAGE_PART_BYTES')}={self.part_bytes} must be between "
                f"{S3_MIN_PART_BYTES} (S3's smallest part) and {S3_MAX_PART_BYTES}"
            )
        if self.max_file_bytes > self.part_bytes * S3_MAX_PARTS:
            raise ValueError(
                f"{env_name('STORAGE_MAX_FILE_BYTES')}={self.max_file_bytes} needs more than "
                f"{S3_MAX_PARTS} parts of {self.part_bytes} bytes"
            )

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            server=ServerSettings.from_env("storage", 50055, 9105),
            database_url=database_url_from_env(),
            eventstore_address=env_str("EVENTSTORE_ADDRESS", DEFAULT_EVENTSTORE_ADDRESS),
            db_pool_min=env_int("STORAGE_DB_POOL_MIN", 2, min_value=1),
            db_pool_max=env_int("STORAGE_DB_POOL_MAX", 10, min_value=1),
            s3=S3Settings(
                endpoint=env_str("S3_ENDPOINT", "http://127.0.0.1:8333"),
                region=env_str("S3_REGION", "us-east-1"),
                bucket=env_str("S3_BUCKET", "fundledger-files"),
                # The local SeaweedFS keys (deploy/ and fundledger_devstack use them).
                access_key=env_str("S3_ACCESS_KEY", "fundledger"),
                secret_key=env_str("S3_SECRET_KEY", "fundledger-secret"),
                path_style=env_bool("S3_PATH_STYLE", True),
            ),
            max_file_bytes=env_int("STORAGE_MAX_FILE_BYTES", 100 * MIB, min_value=1),
            part_bytes=env_int("STORAGE_PART_BYTES", 8 * MIB),
            chunk_bytes=env_int(
                "STORAGE_CHUNK_BYTES", 256 * 1024, min_value=1024, max_value=MAX_CHUNK_BYTES
            ),
            verify_progress_every=env_int("STORAGE_VERIFY_PROGRESS_EVERY", 100, min_value=1),
            orphan_grace_seconds=env_float("STORAGE_ORPHAN_GRACE_SECONDS", 300.0, min_value=0.0),
        )
