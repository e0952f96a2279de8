-- Where the hash chain's back-fill (adapters/chain_backfill.py) has walked the log to: the last
-- position it went through and that event's recorded_at (which bounds the next scan: recorded_at
-- never decreases with position, FM-9). One row.
CREATE TABLE eventstore.chain_backfill (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    position bigint NOT NULL DEFAULT 0,
    recorded_at timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO eventstore.chain_backfill DEFAULT VALUES;
