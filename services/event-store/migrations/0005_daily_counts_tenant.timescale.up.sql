-- Daily counts per tenant, so GetDailyCounts of a person counts only their tenant's events
-- ('' for events of streams without a tenant). A continuous aggregate cannot gain a GROUP BY
-- column, so it is made again. Its refresh policy starts at the beginning of time (NULL): the
-- first run materializes the whole history once (until then real-time aggregation computes it
-- from the events), later runs only refresh the ranges appends invalidated, which are recent.
DROP VIEW eventstore.daily_counts;
DROP MATERIALIZED VIEW eventstore.daily_counts_cagg;

CREATE MATERIALIZED VIEW eventstore.daily_counts_cagg
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(interval '1 day', recorded_at) AS bucket,
       coalesce(tenant, '') AS tenant,
       coalesce(user_id, '') AS user_id,
       event_type,
       count(*) AS count
FROM eventstore.events
GROUP BY 1, 2, 3, 4
WITH NO DATA;
SELECT add_continuous_aggregate_policy('eventstore.daily_counts_cagg',
    start_offset => NULL, end_offset => interval '1 hour',
    schedule_interval => interval '30 minutes');

-- Same name and columns as the native rollup, so both modes share one query.
CREATE VIEW eventstore.daily_counts AS
SELECT (bucket AT TIME ZONE 'UTC')::date AS day, tenant, user_id, event_type, count
FROM eventstore.daily_counts_cagg;
