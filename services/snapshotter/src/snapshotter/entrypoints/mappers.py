"""Domain -> proto conversions for the servicer's responses."""

from __future__ import annotations

import logging

from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger.snapshotter.v1 import snapshotter_pb2 as pb
from fundledger_kernel.fund import state_to_proto
from fundledger_kernel.fund.fold_input import UnreadableEventError
from fundledger_platform.timestamps import to_timestamp
from google.protobuf.any_pb2 import Any as AnyProto

from snapshotter.domain.model import Snapshot, Trigger
from snapshotter.domain.restatement import FigureChange, differences
from snapshotter.domain.timeline import TimelineEvent, fund_payload
from snapshotter.service_layer.restatement import Restatement
from snapshotter.service_layer.time_travel import StateAt

log = logging.getLogger(__name__)

_TRIGGERS = {
    Trigger.EVENT_COUNT: pb.SNAPSHOT_TRIGGER_EVENT_COUNT,
    Trigger.DAILY: pb.SNAPSHOT_TRIGGER_DAILY,
    Trigger.MANUAL: pb.SNAPSHOT_TRIGGER_MANUAL,
}


def snapshot(value: Snapshot) -> pb.Snapshot:
    message = pb.Snapshot(
        snapshot_id=str(value.snapshot_id),
        fund_id=value.fund_id,
        version=value.version,
        position=value.position,
        event_time=to_timestamp(value.event_time),
        fold_version=value.fold_version,
        trigger=_TRIGGERS[value.trigger],
        events_since_previous=value.events_since_previous,
    )
    if value.created_at is not None:
        message.create_time.CopyFrom(to_timestamp(value.created_at))
    if value.effective_through is not None:
        message.effective_through.CopyFrom(to_timestamp(value.effective_through))
    return message


def state_response(answer: StateAt) -> pb.GetFundStateAtResponse:
    replay = answer.replay
    response = pb.GetFundStateAtResponse(
        state=state_to_proto(replay.state),
        version=replay.state.version,
        events_replayed=replay.events_replayed,
        effective_at=to_timestamp(answer.effective_at),
        known_at=to_timestamp(answer.known_at),
    )
    if replay.base is not None:
        response.snapshot_id = str(replay.base.snapshot_id)
        response.snapshot_version = replay.base.version
    return response


def recorded_event(value: TimelineEvent) -> RecordedEvent:
    event = value.event
    return RecordedEvent(
        stream_id=event.stream_id,
        version=event.version,
        position=event.position,
        event_id=event.event_id,
        event_type=event.event_type,
        schema_version=value.schema_version,
        data=event.data,
        metadata=value.metadata,
        causation_id=value.causation_id,
        correlation_id=value.correlation_id,
        user_id=value.user_id,
        source=value.source,
        recorded_at=to_timestamp(event.recorded_at),
        category=value.category,
        effective_at=to_timestamp(event.business_time),
    )


def timeline_entry(value: TimelineEvent) -> pb.TimelineEntry:
    entry = pb.TimelineEntry(event=recorded_event(value))
    try:
        data = fund_payload(value.event)
    except UnreadableEventError as err:
        # The timeline shows events, it does not fold them: an unreadable payload is
        # shown raw rather than failing the caller's whole page.
        log.warning("%s", err)
        data = None
    if data is not None:
        payload = AnyProto()
        payload.Pack(data)
        entry.payload.CopyFrom(payload)
    return entry


def figure_change(change: FigureChange) -> pb.FigureChange:
    return pb.FigureChange(
        figure=change.figure, before=change.before, after=change.after, delta=change.delta
    )


def restatement_response(value: Restatement) -> pb.GetRestatementResponse:
    before, after = state_to_proto(value.before), state_to_proto(value.after)
    found = differences(before, after)
    return pb.GetRestatementResponse(
        before=before,
        after=after,
        changes=[figure_change(c) for c in found.fund],
        companies=[
            pb.CompanyRestatement(
                company_id=c.company_id,
                name=c.name,
                changes=[figure_change(change) for change in c.changes],
            )
            for c in found.companies
        ],
        events=[timeline_entry(e) for e in value.events],
        effective_at=to_timestamp(value.effective_at),
        known_at_before=to_timestamp(value.known_at_before),
        known_at_after=to_timestamp(value.known_at_after),
    )
