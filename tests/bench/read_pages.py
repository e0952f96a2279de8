"""ReadStream's two shapes in the bench: pages, the default for every client since issue 11
(batch_size 0 = the server's default page of up to 1,000 events), and one event per message,
which a client gets by asking for it (`one_per_message`)."""

from __future__ import annotations

from fundledger.eventstore.v1 import eventstore_pb2 as pb

PAGED_LABEL = "pages (default)"


def read_request(
    stream_id: str, max_count: int, *, batch_size: int, one_per_message: bool
) -> pb.ReadStreamRequest:
    return pb.ReadStreamRequest(
        stream_id=stream_id,
        max_count=max_count,
        batch_size=batch_size,
        one_per_message=one_per_message,
    )


def events_in(response: pb.ReadStreamResponse) -> int:
    """Events one response carries: a page, or the one event."""
    return len(response.events) or (1 if response.HasField("event") else 0)
