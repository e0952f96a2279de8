"""ReadStream's two shapes in the bench: pages (the default for every client, issue 11) and
one event per message (what a client gets by asking for it).

Until the contract has `one_per_message` (ReadStreamRequest field 7), batch_size 0 means one
event per message and a page needs batch_size > 0; once it has, batch_size 0 means the
server's default page (up to 1,000 events) and one event per message is asked for. The bench
follows whichever contract libs/api was generated from.
"""

from __future__ import annotations

from fundledger.eventstore.v1 import eventstore_pb2 as pb

PAGES_BY_DEFAULT = "one_per_message" in pb.ReadStreamRequest.DESCRIPTOR.fields_by_name
# The paged figures' batch_size: the server's default page, or (older contract) pages of 500.
PAGED_BATCH_SIZE = 0 if PAGES_BY_DEFAULT else 500
PAGED_LABEL = "pages (default)" if PAGES_BY_DEFAULT else f"batch_size={PAGED_BATCH_SIZE}"


def read_request(
    stream_id: str, max_count: int, *, batch_size: int, one_per_message: bool
) -> pb.ReadStreamRequest:
    request = pb.ReadStreamRequest(stream_id=stream_id, max_count=max_count, batch_size=batch_size)
    if one_per_message and PAGES_BY_DEFAULT:
        setattr(request, "one_per_message", True)  # noqa: B010 (absent from older stubs)
    return request


def events_in(response: pb.ReadStreamResponse) -> int:
    """Events one response carries: a page, or the one event."""
    return len(response.events) or (1 if response.HasField("event") else 0)
