"""The load scenarios: each is reported under its own operation name.

The locust interceptor names a request by the operation of its RPC (the stats CSV's Name
column) and puts the RPC's full method name in the request type (the Type column), so both
are visible in every report. The gates in gates.toml are keyed by the operation names.
"""

from __future__ import annotations

from types import MappingProxyType

CURRENT_STATE = "current_state"
HISTORICAL_STATE = "historical_state"
TIMELINE = "timeline"
SNAPSHOT_CREATE = "snapshot_create"
APPEND = "append"
REALLOCATION_PREVIEW = "reallocation_preview"
REALLOCATION_COMMIT = "reallocation_commit"
UPLOAD_SMALL = "upload_small"

# Full gRPC method name -> operation name (one RPC per scenario).
OPERATION_OF_METHOD = MappingProxyType(
    {
        "/fundledger.projector.v1.ProjectorService/GetFundState": CURRENT_STATE,
        "/fundledger.snapshotter.v1.SnapshotterService/GetFundStateAt": HISTORICAL_STATE,
        "/fundledger.snapshotter.v1.SnapshotterService/GetTimeline": TIMELINE,
        "/fundledger.snapshotter.v1.SnapshotterService/CreateSnapshot": SNAPSHOT_CREATE,
        "/fundledger.eventstore.v1.EventStoreService/AppendToStream": APPEND,
        "/fundledger.allocation.v1.AllocationService/PreviewReallocation": REALLOCATION_PREVIEW,
        "/fundledger.allocation.v1.AllocationService/CommitReallocation": REALLOCATION_COMMIT,
        "/fundledger.storage.v1.StorageService/UploadFile": UPLOAD_SMALL,
    }
)

OPERATIONS: tuple[str, ...] = tuple(OPERATION_OF_METHOD.values())
