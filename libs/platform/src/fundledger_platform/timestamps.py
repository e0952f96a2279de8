"""datetime <-> google.protobuf.Timestamp, the one conversion every mapper uses."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp


def to_timestamp(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def from_timestamp(value: Timestamp) -> datetime:
    """An aware UTC datetime (protobuf's own conversion gives a naive one by default)."""
    return value.ToDatetime(tzinfo=UTC)
