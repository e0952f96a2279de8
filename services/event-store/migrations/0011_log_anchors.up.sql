-- The daily anchors of the hash chain (docs/event-store.md, "Hash chain"; written by
-- adapters/anchors.py, the leader's task; checked by VerifyLog). For each UTC day, the head of
-- every stream changed that day as of its end (the stream's last event recorded that day: its
-- version and hash) and the Merkle root over them (fundledger_kernel.merkle). One row per day:
-- the primary key makes the anchor idempotent across runs and replicas. published_at is set
-- once the anchor was published on the bus (NULL: to publish, also after a restart).
-- Plain tables, the same in both storage modes.
CREATE TABLE eventstore.log_anchors (
    day date PRIMARY KEY,
    taken_at timestamptz NOT NULL,
    stream_count integer NOT NULL,
    root bytea NOT NULL,
    published_at timestamptz
);

CREATE TABLE eventstore.log_anchor_streams (
    day date NOT NULL REFERENCES eventstore.log_anchors (day) ON DELETE CASCADE,
    stream_id text NOT NULL,
    version bigint NOT NULL,
    hash bytea NOT NULL,
    PRIMARY KEY (day, stream_id)
);
-- VerifyStream/VerifyLog read a stream's anchored heads.
CREATE INDEX log_anchor_streams_stream ON eventstore.log_anchor_streams (stream_id, day);
