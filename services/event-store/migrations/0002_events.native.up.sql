-- Native mode: the events table is range-partitioned by day on recorded_at. The
-- service creates partitions ahead of time; the default partition catches
-- anything outside them so an append never fails for want of a partition.
INSERT INTO eventstore.storage_mode (mode) VALUES ('native');

CREATE TABLE eventstore.events (
    position bigint NOT NULL,
    stream_id text NOT NULL,
    category text NOT NULL,
    version bigint NOT NULL,
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    schema_version integer NOT NULL,
    data jsonb NOT NULL,
    metadata jsonb NOT NULL,
    payload_hash bytea NOT NULL,
    idempotency_key text,
    causation_id text,
    correlation_id text,
    user_id text,
    source text,
    recorded_at timestamptz NOT NULL
) PARTITION BY RANGE (recorded_at);

CREATE TABLE eventstore.events_default PARTITION OF eventstore.events DEFAULT;

CREATE INDEX events_stream_version ON eventstore.events (stream_id, version);
CREATE INDEX events_position ON eventstore.events (position);
CREATE INDEX events_user_time ON eventstore.events (user_id, recorded_at) WHERE user_id IS NOT NULL;
CREATE INDEX events_correlation ON eventstore.events (correlation_id, position)
    WHERE correlation_id IS NOT NULL;
CREATE INDEX events_category_position ON eventstore.events (category, position);

-- Daily counts: a rollup maintained by the append transaction itself.
CREATE TABLE eventstore.daily_counts (
    day date NOT NULL,
    user_id text NOT NULL,
    event_type text NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (day, user_id, event_type)
);
