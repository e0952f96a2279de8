-- Business time (docs/event-store.md, "Effective time"): when the fact happened, as opposed to
-- recorded_at, when the log learned it. Online on a log of any size:
--   * a nullable column without a default is a catalog change only (no row, compressed or not,
--     is rewritten), and NULL means "the same as recorded_at": every row written before this
--     migration, and every later append that does not set one (which therefore costs nothing
--     extra). Readers take coalesce(effective_at, recorded_at);
--   * the index for effective-time reads of a stream is NOT created here: a migration runs in a
--     transaction, and a hypertable's CREATE INDEX inside one locks every chunk until all are
--     indexed. The service's upkeep (adapters/effective_index.py) creates it with TimescaleDB's
--     `transaction_per_chunk`, one chunk at a time, appends to the other chunks unblocked.
-- The ALTER takes an ACCESS EXCLUSIVE lock for an instant, but must wait for every read already
-- running (and appends queue behind it meanwhile): past lock_timeout it gives up and the
-- migration fails cleanly, to be run again, rather than stall appends behind a long read.
SET LOCAL lock_timeout = '5s';
ALTER TABLE eventstore.events ADD COLUMN effective_at timestamptz;
