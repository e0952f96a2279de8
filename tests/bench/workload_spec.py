"""What a workload is: its kind and parameters (picklable, sent to the client processes)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

# Returns None, or the call's own latency in seconds (see driver.py).
Call = Callable[[int], Awaitable[float | None]]
Kind = Literal[
    "echo",
    "stream",
    "insert",
    "unnest",
    "append",
    "read",
    "fundstate",
    "stateat",
    "stateat-two",
    "snapshot",
    "visible",
    "visible-lag",
    "preview",
    "commit",
]
CALL_TIMEOUT = 10.0
# gRPC, like urllib, would route even 127.0.0.1 through an http_proxy from the environment.
CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0)]


def spread(calls: Sequence[Call]) -> Call:
    """One call per channel; client i calls through channel i % len(calls)."""

    async def call(client: int) -> float | None:
        return await calls[client % len(calls)](client)

    return call


@dataclass(frozen=True)
class Workload:
    kind: Kind
    endpoint: str  # host:port, or a DSN for "insert" and "unnest"
    # append: events per call; clients share `shared_streams` streams (0: one stream each,
    # named from `tag`).
    events: int = 1
    shared_streams: int = 0
    tag: str = ""
    # append: every event sets an effective time (a day back: backdated), issue 12's row.
    effective_at: bool = False
    # read: `events` per call from a random one of the seeded streams 0..streams-1 of `tag`.
    # stream: `events` messages of `payload_bytes` each.
    streams: int = 0
    payload_bytes: int = 200  # echo, stream
    # read: > 0 asks for pages of up to this many events per message (0: the server's
    # default, see read_pages.py); one_per_message asks for one event per message.
    batch_size: int = 0
    one_per_message: bool = False
    # Fund workloads: the seeded funds, and the event store for those that also append.
    funds: tuple[str, ...] = ()
    store: str = ""
    # stateat: the versions asked for; snapshot: how many clients split the funds, and
    # which versions they may snapshot.
    versions: tuple[int, ...] = ()
    clients_total: int = 0
    # Plaintext without a token even when the run is secure (the auth phase's "off" half).
    plaintext: bool = False
    # append, fundstate: channels (TCP connections) per client process; client i calls
    # through channel i % connections. More than one lets SO_REUSEPORT spread one client
    # process over a service's workers (phase workers).
    connections: int = 1
