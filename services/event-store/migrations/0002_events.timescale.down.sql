DROP VIEW IF EXISTS eventstore.daily_counts;
DROP MATERIALIZED VIEW IF EXISTS eventstore.daily_counts_cagg;
DROP TABLE IF EXISTS eventstore.events;
DELETE FROM eventstore.storage_mode;
