"""Projector settings, read once at start-up from FUNDLEDGER_* variables.

The bus names (BUS_STREAM, BUS_SUBJECT_PREFIX) and the connection settings use the
event store's names and defaults: the projector must read the stream the event
store's relay writes.
"""

from __future__ import annotations

from dataclasses import dataclass

from fundledger_platform.settings import (
    DEFAULT_BUS_STREAM,
    DEFAULT_BUS_SUBJECT_PREFIX,
    DEFAULT_EVENTSTORE_ADDRESS,
    DEFAULT_NATS_URL,
    ServerSettings,
    database_url_from_env,
    env_bool,
    env_float,
    env_int,
    env_str,
)


@dataclass(frozen=True)
class Settings:
    server: ServerSettings
    database_url: str
    nats_url: str
    eventstore_address: str
    eventstore_timeout_seconds: float
    db_pool_min: int
    db_pool_max: int
    bus_stream: str
    bus_subject_prefix: str
    durable: str
    consumer_enabled: bool
    consumer_batch_size: int
    ack_wait_seconds: float
    catchup_enabled: bool
    catchup_seconds: float
    catchup_page_size: int
    apply_concurrency: int
    wait_poll_seconds: float
    max_wait_seconds: float
    status_max_scan: int

    @property
    def fund_subject(self) -> str:
        """The subjects of fund events: `<prefix>.fund.<stream_id>`."""
        return f"{self.bus_subject_prefix}.fund.>"

    @classmethod
    def from_env(cls) -> Settings:
        server = ServerSettings.from_env("projector", 50052, 9102)
        return cls(
            server=server,
            database_url=database_url_from_env(),
            nats_url=env_str("NATS_URL", DEFAULT_NATS_URL),
            eventstore_address=env_str("EVENTSTORE_ADDRESS", DEFAULT_EVENTSTORE_ADDRESS),
            eventstore_timeout_seconds=env_float(
                "PROJECTOR_EVENTSTORE_TIMEOUT_SECONDS", 30.0, min_value=0.1
            ),
            db_pool_min=env_int("PROJECTOR_DB_POOL_MIN", 2, min_value=1),
            db_pool_max=env_int("PROJECTOR_DB_POOL_MAX", 12, min_value=4),
            bus_stream=env_str("BUS_STREAM", DEFAULT_BUS_STREAM),
            bus_subject_prefix=env_str("BUS_SUBJECT_PREFIX", DEFAULT_BUS_SUBJECT_PREFIX),
            durable=env_str("PROJECTOR_DURABLE", "projector"),
            consumer_enabled=env_bool("PROJECTOR_CONSUMER_ENABLED", True),
            consumer_batch_size=env_int("PROJECTOR_CONSUMER_BATCH_SIZE", 256, min_value=1),
            ack_wait_seconds=env_float("PROJECTOR_ACK_WAIT_SECONDS", 30.0, min_value=1.0),
            catchup_enabled=env_bool("PROJECTOR_CATCHUP_ENABLED", True),
            catchup_seconds=env_float("PROJECTOR_CATCHUP_SECONDS", 30.0, min_value=0.1),
            catchup_page_size=env_int("PROJECTOR_CATCHUP_PAGE_SIZE", 500, min_value=1),
            apply_concurrency=env_int("PROJECTOR_APPLY_CONCURRENCY", 8, min_value=1),
            # A worker that runs no consumer is never woken by its own commits: it only sees
            # the versions callers wait for by reading the row again, so it reads more often.
            wait_poll_seconds=env_float(
                "PROJECTOR_WAIT_POLL_SECONDS",
                0.5 if server.worker.leader else 0.05,
                min_value=0.01,
            ),
            max_wait_seconds=env_float("PROJECTOR_MAX_WAIT_SECONDS", 30.0, min_value=0.0),
            status_max_scan=env_int("PROJECTOR_STATUS_MAX_SCAN", 10_000, min_value=1),
        )
