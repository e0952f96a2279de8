-- Business time (docs/event-store.md, "Effective time"): when the fact happened, as opposed to
-- recorded_at, when the log learned it. Online on a log of any size:
--   * a nullable column without a default is a catalog change only (no row is rewritten),
--     and NULL means "the same as recorded_at": every row written before this migration, and
--     every later append that does not set one (which therefore costs nothing extra). Readers
--     take coalesce(effective_at, recorded_at);
--   * the index for effective-time reads of a stream is created here ON ONLY the partitioned
--     parent: an empty, invalid index, instant, that every partition created from now on gets
--     on ATTACH. The existing partitions are indexed CONCURRENTLY, one at a time, by the
--     service's upkeep (adapters/effective_index.py), which attaches each; the parent index
--     turns valid once every partition has its own. A migration runs inside a transaction, where
--     CREATE INDEX CONCURRENTLY is not allowed, and a plain CREATE INDEX on the parent would
--     block every append until the whole log is indexed.
-- The ALTER takes an ACCESS EXCLUSIVE lock for an instant, but must wait for every read already
-- running (and appends queue behind it meanwhile): past lock_timeout it gives up and the
-- migration fails cleanly, to be run again, rather than stall appends behind a long read.
SET LOCAL lock_timeout = '5s';
ALTER TABLE eventstore.events ADD COLUMN effective_at timestamptz;
CREATE INDEX events_stream_effective ON ONLY eventstore.events
    (stream_id, (coalesce(effective_at, recorded_at)));
