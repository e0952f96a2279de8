-- The continuous aggregate of 0002, without tenants (its policy keeps refreshing from the
-- beginning, so the history made by 0005 stays materialized).
DROP VIEW IF EXISTS eventstore.daily_counts;
DROP MATERIALIZED VIEW IF EXISTS eventstore.daily_counts_cagg;

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
    start_offset => NULL, end_offset => interval '1 hour',
    schedule_interval => interval '30 minutes');

CREATE VIEW eventstore.daily_counts AS
SELECT (bucket AT TIME ZONE 'UTC')::date AS day, user_id, event_type, count
FROM eventstore.daily_counts_cagg;
