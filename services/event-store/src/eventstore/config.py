"""Event-store settings, read once at start-up from FUNDLEDGER_* variables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from fundledger_platform.settings import (
    DEFAULT_BUS_STREAM,
    DEFAULT_BUS_SUBJECT_PREFIX,
    DEFAULT_NATS_URL,
    ServerSettings,
    database_url_from_env,
    env_bool,
    env_float,
    env_int,
    env_str,
)

from eventstore.adapters.anchors import DEFAULT_SUBJECT, parse_anchor_time
from eventstore.domain.append_request import Limits


@dataclass(frozen=True)
class Settings:
    server: ServerSettings
    database_url: str
    nats_url: str
    db_pool_min: int
    db_pool_max: int
    limits: Limits
    group_max_appends: int
    group_max_events: int
    relay_enabled: bool
    relay_batch_size: int
    relay_poll_seconds: float
    bus_stream: str
    bus_subject_prefix: str
    bus_duplicate_window_seconds: float
    bus_max_age_seconds: float
    subscribe_poll_seconds: float
    partition_days_ahead: int
    retention_days: int
    timescale_chunk_hours: int
    maintenance_interval_seconds: float
    # How far after its commit time an event's effective time may lie (0: not at all).
    effective_at_horizon_seconds: float = 0.0
    # The leader's back-fill of the hash chain (adapters/chain_backfill.py); off only for tests
    # that run it themselves.
    chain_backfill_enabled: bool = True
    # How many JetStream servers hold the event stream (1 to 5; more than 1 needs a cluster).
    bus_stream_replicas: int = 1
    # The daily anchor of the hash chain (adapters/anchors.py): the UTC time of day it is taken
    # at (for the day before), and the bus subject it is published on (core NATS).
    anchors_enabled: bool = True
    anchor_time: time = time(0, 5)
    anchor_subject: str = DEFAULT_SUBJECT

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            server=ServerSettings.from_env("event-store", 50051, 9101),
            database_url=database_url_from_env(),
            nats_url=env_str("NATS_URL", DEFAULT_NATS_URL),
            db_pool_min=env_int("EVENTSTORE_DB_POOL_MIN", 4),
            db_pool_max=env_int("EVENTSTORE_DB_POOL_MAX", 20),
            limits=Limits(
                max_events=env_int("EVENTSTORE_MAX_EVENTS_PER_APPEND", 1000),
                max_event_bytes=env_int("EVENTSTORE_MAX_EVENT_BYTES", 1024 * 1024),
                max_append_bytes=env_int("EVENTSTORE_MAX_APPEND_BYTES", 8 * 1024 * 1024),
            ),
            group_max_appends=env_int("EVENTSTORE_GROUP_MAX_APPENDS", 256),
            group_max_events=env_int("EVENTSTORE_GROUP_MAX_EVENTS", 5000),
            relay_enabled=env_bool("EVENTSTORE_RELAY_ENABLED", True),
            relay_batch_size=env_int("EVENTSTORE_RELAY_BATCH_SIZE", 500),
            relay_poll_seconds=env_float("EVENTSTORE_RELAY_POLL_SECONDS", 1.0),
            bus_stream=env_str("BUS_STREAM", DEFAULT_BUS_STREAM),
            bus_subject_prefix=env_str("BUS_SUBJECT_PREFIX", DEFAULT_BUS_SUBJECT_PREFIX),
            bus_duplicate_window_seconds=env_float("BUS_DUPLICATE_WINDOW_SECONDS", 600.0),
            bus_max_age_seconds=env_float("BUS_MAX_AGE_SECONDS", 7 * 24 * 3600.0),
            subscribe_poll_seconds=env_float("EVENTSTORE_SUBSCRIBE_POLL_SECONDS", 1.0),
            partition_days_ahead=env_int("EVENTSTORE_PARTITION_DAYS_AHEAD", 7),
            retention_days=env_int("EVENTSTORE_RETENTION_DAYS", 0),
            timescale_chunk_hours=env_int("EVENTSTORE_TIMESCALE_CHUNK_HOURS", 24),
            maintenance_interval_seconds=env_float("EVENTSTORE_MAINTENANCE_SECONDS", 3600.0),
            effective_at_horizon_seconds=env_float(
                "EVENTSTORE_EFFECTIVE_AT_HORIZON_SECONDS", 0.0, min_value=0.0
            ),
            chain_backfill_enabled=env_bool("EVENTSTORE_CHAIN_BACKFILL_ENABLED", True),
            bus_stream_replicas=env_int("BUS_STREAM_REPLICAS", 1, min_value=1, max_value=5),
            anchors_enabled=env_bool("EVENTSTORE_ANCHORS_ENABLED", True),
            anchor_time=parse_anchor_time(env_str("EVENTSTORE_ANCHOR_TIME", "00:05")),
            anchor_subject=env_str("EVENTSTORE_ANCHOR_SUBJECT", DEFAULT_SUBJECT),
        )
