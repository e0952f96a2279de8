"""Allocation settings, read once at start-up from FUNDLEDGER_* variables."""

from __future__ import annotations

from dataclasses import dataclass

from fundledger_platform.settings import (
    DEFAULT_EVENTSTORE_ADDRESS,
    ServerSettings,
    env_float,
    env_int,
    env_str,
)

from allocation.domain.thresholds import Thresholds

# One RESERVE_ALLOCATED per changed company plus the audit event must fit in one append, and
# the event store takes at most 1000 events per append by default.
DEFAULT_MAX_PROPOSALS = 999


@dataclass(frozen=True)
class Settings:
    server: ServerSettings
    eventstore_address: str
    eventstore_timeout_seconds: float
    # Warning thresholds in basis points (3000 = 30 %): integers, compared exactly.
    concentration_bps: int
    fund_share_bps: int
    max_proposals: int
    # Funds whose folded state is kept in memory (least recently used evicted first).
    cache_funds: int

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(self.concentration_bps, self.fund_share_bps)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            server=ServerSettings.from_env("allocation", 50054, 9104),
            eventstore_address=env_str("EVENTSTORE_ADDRESS", DEFAULT_EVENTSTORE_ADDRESS),
            eventstore_timeout_seconds=env_float(
                "ALLOCATION_EVENTSTORE_TIMEOUT_SECONDS", 10.0, min_value=0.1
            ),
            concentration_bps=env_int(
                "ALLOCATION_CONCENTRATION_BPS", 3000, min_value=0, max_value=10_000
            ),
            # Above 100 % is allowed: a fund may plan reserves beyond its size on purpose
            # (recycling) and only want a warning past some multiple.
            fund_share_bps=env_int(
                "ALLOCATION_FUND_SHARE_BPS", 5000, min_value=0, max_value=1_000_000
            ),
            max_proposals=env_int("ALLOCATION_MAX_PROPOSALS", DEFAULT_MAX_PROPOSALS, min_value=1),
            cache_funds=env_int("ALLOCATION_CACHE_FUNDS", 1000, min_value=1),
        )
