-- Drops business time; the effective times appended since 0007 are lost (the column's indexes,
-- the parent's and any partition's the upkeep built, go with it).
DROP INDEX IF EXISTS eventstore.events_stream_effective;
ALTER TABLE eventstore.events DROP COLUMN IF EXISTS effective_at;
