"""What each service of the local stack may reach behind its API: its PostgreSQL schema, its
NATS subjects and (the storage service only) S3. The dev stack makes one PostgreSQL role and
one NATS user per service from this table (pg_roles.py, nats_auth.py); see docs/security.md.
"""

from __future__ import annotations

from dataclasses import dataclass

# The services' defaults (fundledger_platform.settings DEFAULT_BUS_STREAM and
# DEFAULT_BUS_SUBJECT_PREFIX; a test keeps them equal): the relay publishes under the prefix
# into the stream, the consumers pull from it.
BUS_STREAM = "FUNDLEDGER_EVENTS"
BUS_SUBJECT_PREFIX = "fundledger.events"


@dataclass(frozen=True)
class BusAccess:
    """A service's NATS user: what it may publish and subscribe to."""

    user: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]

    @property
    def inbox_prefix(self) -> str:
        # Its own first token (not _INBOX.<user>): a `_INBOX.>` grant given to anyone else
        # (a tool's user) can then never reach it.
        return f"_INBOX_{self.user}"


def publisher(user: str, stream: str = BUS_STREAM, prefix: str = BUS_SUBJECT_PREFIX) -> BusAccess:
    """The event store's relay: publishes events and keeps the stream's configuration."""
    api = "$JS.API.STREAM"
    return BusAccess(
        user,
        publish=(
            f"{prefix}.>",
            "fundledger.anchors",  # the hash chain's daily anchors (eventstore/adapters/anchors.py)
            f"{api}.INFO.{stream}",
            f"{api}.CREATE.{stream}",
            f"{api}.UPDATE.{stream}",
        ),
        subscribe=(f"_INBOX_{user}.>",),
    )


def consumer(user: str, durable: str, stream: str = BUS_STREAM) -> BusAccess:
    """A durable pull consumer: may create and inspect its own consumer, pull from and ack it,
    nothing else (not another consumer, not the event subjects themselves)."""
    api = "$JS.API.CONSUMER"
    return BusAccess(
        user,
        publish=(
            # nats-py names the filter subject in the create subject (CREATE.<s>.<c>.<filter>).
            f"{api}.CREATE.{stream}.{durable}",
            f"{api}.CREATE.{stream}.{durable}.>",
            f"{api}.DURABLE.CREATE.{stream}.{durable}",
            f"{api}.INFO.{stream}.{durable}",
            f"{api}.MSG.NEXT.{stream}.{durable}",
            f"$JS.ACK.{stream}.{durable}.>",
        ),
        subscribe=(f"_INBOX_{user}.>",),
    )


def tool_reader(user: str, stream: str = BUS_STREAM) -> BusAccess:
    """An operator's tool (`fundledger events tail`): reads the stream through an ephemeral,
    ordered push consumer of its own, delivered to its own inbox. It cannot publish events,
    name (and so take over) a durable consumer, or pull from or ack anyone else's."""
    return BusAccess(
        user,
        publish=(
            f"$JS.API.STREAM.INFO.{stream}",
            # Exactly this subject: an unnamed, ephemeral consumer (the server refuses a
            # durable name here), never CREATE.<stream>.<name> of another's consumer.
            f"$JS.API.CONSUMER.CREATE.{stream}",
            # Flow-control replies of its push consumer.
            f"$JS.FC.{stream}.>",
        ),
        subscribe=(f"_INBOX_{user}.>",),
    )


# Users that are no service: `fundledger events tail` connects as `cli` with the password kept
# in <stack dir>/credentials/nats-cli (libs/cli bus_tail.py).
TOOL_USERS: tuple[BusAccess, ...] = (tool_reader("cli"),)


@dataclass(frozen=True)
class ServiceAccess:
    service: str
    # The PostgreSQL schema its migrations create; None = the service keeps no database.
    schema: str | None = None
    # Creates, renames or drops tables of its schema while it runs (the event store's day
    # partitions and TimescaleDB policies, the projector's rebuild swap): PostgreSQL lets only
    # a table's owner do that, so its role acts as the schema owner (see pg_roles.py).
    runtime_ddl: bool = False
    bus: BusAccess | None = None
    s3: bool = False


ACCESS: dict[str, ServiceAccess] = {
    a.service: a
    for a in (
        ServiceAccess("event-store", "eventstore", runtime_ddl=True, bus=publisher("event_store")),
        ServiceAccess(
            "projector", "projector", runtime_ddl=True, bus=consumer("projector", "projector")
        ),
        ServiceAccess("snapshotter", "snapshotter", bus=consumer("snapshotter", "snapshotter")),
        ServiceAccess("allocation"),
        ServiceAccess("storage", "storage", s3=True),
    )
}


def access_of(service: str) -> ServiceAccess:
    """The table's entry; a service not in it (a test's own) gets a schema of its own (named
    after it) and nothing else."""
    return ACCESS.get(service) or ServiceAccess(service, service.replace("-", "_"))
