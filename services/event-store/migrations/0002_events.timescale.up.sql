-- TimescaleDB mode: the same columns and indexes, as a hypertable with one-day
-- chunks (the service may change the interval at start-up), compression of
-- chunks older than 7 days, and a continuous aggregate behind daily_counts.
CREATE EXTENSION IF NOT EXISTS timescaledb;
INSERT INTO eventstore.storage_mode (mode) VALUES ('timescale');

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
);
SELECT create_hypertable('eventstore.events', 'recorded_at', chunk_time_interval => interval '1 day');

CREATE INDEX events_stream_version ON eventstore.events (stream_id, version);
CREATE INDEX events_position ON eventstore.events (position);
CREATE INDEX events_user_time ON eventstore.events (user_id, recorded_at) WHERE user_id IS NOT NULL;
CREATE INDEX events_correlation ON eventstore.events (correlation_id, position)
    WHERE correlation_id IS NOT NULL;
CREATE INDEX events_category_position ON eventstore.events (category, position);

ALTER TABLE eventstore.events SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'stream_id',
    timescaledb.compress_orderby = 'version'
);
SELECT add_compression_policy('eventstore.events', interval '7 days');

CREATE MATERIALIZED VIEW eventstore.daily_counts_cagg
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(interval '1 day', recorded_at) AS bucket,
       coalesce(user_id, '') AS user_id,
       event_type,
       count(*) AS count
FROM eventstore.events
GROUP BY 1, 2, 3
WITH NO DATA;
SELECT add_continuous_aggregate_policy('eventstore.daily_counts_cagg',
    start_offset => interval '3 days', end_offset => interval '1 hour',
    schedule_interval => interval '30 minutes');

-- Same name and columns as the native rollup, so both modes share one query.
CREATE VIEW eventstore.daily_counts AS
SELECT (bucket AT TIME ZONE 'UTC')::date AS day, user_id, event_type, count
FROM eventstore.daily_counts_cagg;
