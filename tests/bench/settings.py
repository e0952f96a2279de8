"""The benchmark's settings, read once from FUNDLEDGER_BENCH_* variables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fundledger_platform.settings import (
    env_bool,
    env_float,
    env_int,
    env_str,
    event_loop_from_env,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
PHASES = (
    "echo",
    "reads",
    "batched",
    "scale",
    "funds",
    "allocation",
    "appends",
    "workers",
    "chain",
    "peer",
    "auth",
)


@dataclass(frozen=True)
class BenchSettings:
    quick: bool
    # Each measurement: `warmup_seconds` unmeasured, then `seconds` measured.
    seconds: float
    warmup_seconds: float
    # Events in the large table of the scale check; 0 skips the scale check.
    big_events: int
    # Processes the load generator spreads its virtual clients over.
    client_procs: int
    # PostgreSQL connections the bulk loader writes with.
    load_connections: int
    # An existing event store (host:port) and its database, instead of a throwaway stack.
    target: str | None
    target_database_url: str | None
    # The target's Prometheus endpoint (host:port), for group sizes; optional.
    target_metrics: str | None
    # Run the event store under cProfile (its figures are then not comparable).
    profile_server: bool
    # The append → visible figures' background rate (appends/s); 0: decided by the probe.
    visible_rate: float
    # TLS + authentication + authorization on every service, and clients sending a token: the
    # configuration users run (FUNDLEDGER_BENCH_SECURE=false, or FUNDLEDGER_STACK_SECURE=false,
    # for plaintext without authentication). Target mode: see transport.py.
    secure: bool
    # Rounds of the auth phase (on/off pairs of each figure, interleaved).
    auth_rounds: int
    # The servers' event loop (FUNDLEDGER_EVENT_LOOP, which every server process inherits):
    # recorded with the figures, which move with it.
    event_loop: str
    # Which groups of measurements to run, a subset of PHASES (in PHASES order).
    phases: tuple[str, ...]
    out_dir: Path

    @classmethod
    def from_env(cls) -> BenchSettings:
        quick = env_bool("BENCH_QUICK", False)
        target = env_str("BENCH_TARGET", "") or None
        database_url = env_str("BENCH_DATABASE_URL", "") or None
        if target is not None and database_url is None:
            raise ValueError(
                "FUNDLEDGER_BENCH_TARGET needs FUNDLEDGER_BENCH_DATABASE_URL (the target's "
                "database, for the raw-insert baseline and the scale check)"
            )
        phases = tuple(p.strip() for p in env_str("BENCH_PHASES", ",".join(PHASES)).split(","))
        unknown = set(phases) - set(PHASES)
        if unknown:
            raise ValueError(
                f"FUNDLEDGER_BENCH_PHASES: unknown {sorted(unknown)}; known: {', '.join(PHASES)}"
            )
        return cls(
            quick=quick,
            seconds=env_float("BENCH_SECONDS", 1.0 if quick else 5.0, min_value=0.2),
            warmup_seconds=env_float("BENCH_WARMUP_SECONDS", 0.5 if quick else 1.0, min_value=0.0),
            big_events=env_int("BENCH_BIG_EVENTS", 100_000 if quick else 10_000_000, min_value=0),
            client_procs=env_int("BENCH_CLIENT_PROCS", 2, min_value=1, max_value=8),
            load_connections=env_int("BENCH_LOAD_CONNECTIONS", 2, min_value=1, max_value=8),
            target=target,
            target_database_url=database_url,
            target_metrics=env_str("BENCH_TARGET_METRICS", "") or None,
            profile_server=env_bool("BENCH_PROFILE", False),
            visible_rate=env_float("BENCH_VISIBLE_RATE", 0.0, min_value=0.0),
            secure=env_bool("BENCH_SECURE", env_bool("STACK_SECURE", True)),
            auth_rounds=env_int("BENCH_AUTH_ROUNDS", 3, min_value=1, max_value=20),
            event_loop=event_loop_from_env(),
            phases=tuple(p for p in PHASES if p in phases),
            out_dir=REPO_ROOT / ".bench",
        )
