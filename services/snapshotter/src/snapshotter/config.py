"""Snapshotter settings, read once at start-up from FUNDLEDGER_* variables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from fundledger_platform.settings import (
    DEFAULT_BUS_STREAM,
    DEFAULT_BUS_SUBJECT_PREFIX,
    DEFAULT_EVENTSTORE_ADDRESS,
    DEFAULT_NATS_URL,
    ServerSettings,
    database_url_from_env,
    env_float,
    env_int,
    env_name,
    env_str,
)


@dataclass(frozen=True)
class Settings:
    server: ServerSettings
    database_url: str
    nats_url: str
    eventstore_address: str
    db_pool_min: int
    db_pool_max: int
    # Same names and defaults as the event store's: both sides must agree on them.
    bus_stream: str
    bus_subject_prefix: str
    durable: str
    snapshot_every_events: int
    daily_utc_time: time
    catchup_seconds: float

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            server=ServerSettings.from_env("snapshotter", 50053, 9103),
            database_url=database_url_from_env(),
            nats_url=env_str("NATS_URL", DEFAULT_NATS_URL),
            eventstore_address=env_str("EVENTSTORE_ADDRESS", DEFAULT_EVENTSTORE_ADDRESS),
            db_pool_min=env_int("SNAPSHOTTER_DB_POOL_MIN", 2, min_value=1),
            db_pool_max=env_int("SNAPSHOTTER_DB_POOL_MAX", 10, min_value=1),
            bus_stream=env_str("BUS_STREAM", DEFAULT_BUS_STREAM),
            bus_subject_prefix=env_str("BUS_SUBJECT_PREFIX", DEFAULT_BUS_SUBJECT_PREFIX),
            durable=env_str("SNAPSHOTTER_DURABLE", "snapshotter"),
            snapshot_every_events=env_int("SNAPSHOT_EVERY_EVENTS", 50, min_value=1),
            daily_utc_time=parse_utc_time(env_str("SNAPSHOT_DAILY_UTC_TIME", "00:00")),
            catchup_seconds=env_float("SNAPSHOTTER_CATCHUP_SECONDS", 60.0, min_value=0.1),
        )


def parse_utc_time(text: str) -> time:
    """ "HH:MM" or "HH:MM:SS" as a time of day; ValueError naming the variable otherwise."""
    try:
        parsed = time.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{env_name('SNAPSHOT_DAILY_UTC_TIME')}={text!r} is not a time of day (HH:MM)"
        ) from None
    if parsed.tzinfo is not None:
        raise ValueError(f"{env_name('SNAPSHOT_DAILY_UTC_TIME')}={text!r}: give it without zone")
    return parsed
