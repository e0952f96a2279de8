DROP TABLE IF EXISTS eventstore.daily_counts;
DROP TABLE IF EXISTS eventstore.events;
DELETE FROM eventstore.storage_mode;
