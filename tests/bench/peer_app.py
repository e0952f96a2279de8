"""The `eventsourcing` library's side of phase peer: an Application with one Aggregate whose one
event method records what every FundLedger append carries (payloads.event_data: a company and a
valuation), persisted with the library's PostgreSQL module, as its documentation sets it up.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

# psycopg connections the library keeps: one per thread of the widest measurement (c8).
POOL_SIZE = 8


class Valuations(Aggregate):
    @event("Opened")
    def __init__(self, fund: str) -> None:
        self.fund = fund
        self.latest: dict[str, int] = {}

    @event("ValuationUpdated")
    def update(self, company_id: str, valuation_cents: int) -> None:
        self.latest[company_id] = valuation_cents


class PeerLedger(Application[UUID]):
    def open(self, fund: str, events: int) -> UUID:
        """A new aggregate of ``events`` events (its creation included), saved at once."""
        aggregate: Valuations = Valuations(fund)
        for n in range(events - 1):
            aggregate.update(f"company-{n % 997:04d}", 125_000_000 + n)
        self.save(aggregate)
        return aggregate.id

    def valuations(self, aggregate_id: UUID) -> Valuations:
        """The aggregate reconstructed from all its events (no cache, no snapshots: the
        library's defaults)."""
        aggregate: object = self.repository.get(aggregate_id)
        assert isinstance(aggregate, Valuations)
        return aggregate


def peer_env(dsn: str, database: str, schema: str = "") -> dict[str, str]:
    """The library's settings for the server of ``dsn``, on ``database`` (and ``schema``)."""
    url = urlsplit(dsn)
    query = parse_qs(url.query)
    # A unix socket is named by the query's host (libpq's form); psycopg takes it as host.
    host = url.hostname or query.get("host", ["localhost"])[0]
    port = url.port or int(query.get("port", ["5432"])[0])
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": database,
        "POSTGRES_HOST": host,
        "POSTGRES_PORT": str(port),
        "POSTGRES_USER": unquote(url.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(url.password or ""),
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_POOL_SIZE": str(POOL_SIZE),
        "POSTGRES_MAX_OVERFLOW": "0",
    }
