-- Stream heads, the global position counter, event ids and idempotency keys:
-- the plain (unpartitioned) tables that carry every uniqueness rule, because a
-- time-partitioned events table cannot hold a unique index without its time column.
CREATE SCHEMA IF NOT EXISTS eventstore;

CREATE TABLE eventstore.streams (
    stream_id text PRIMARY KEY,
    category text NOT NULL,
    version bigint NOT NULL CHECK (version >= 0),
    first_recorded_at timestamptz,
    last_recorded_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One row. Every append transaction updates it to take its positions, and the row
-- lock it takes is held until commit: a second writer waits for the first to
-- commit and then continues from the committed value. Positions therefore become
-- visible in exactly the order they were assigned, gap-free (FM-1, docs/failure-modes.md).
CREATE TABLE eventstore.log_head (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_position bigint NOT NULL DEFAULT 0,
    last_recorded_at timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO eventstore.log_head DEFAULT VALUES;

-- Event ids are globally unique: the relay publishes with Nats-Msg-Id = event id,
-- and JetStream would silently drop a second event that reused an id.
CREATE TABLE eventstore.event_ids (
    event_id uuid PRIMARY KEY,
    stream_id text NOT NULL,
    version bigint NOT NULL
);

CREATE TABLE eventstore.idempotency_keys (
    stream_id text NOT NULL,
    idempotency_key text NOT NULL,
    request_hash bytea NOT NULL,
    result jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, idempotency_key)
);

-- Relay checkpoints: the last position published per relay name.
CREATE TABLE eventstore.relay_checkpoints (
    name text PRIMARY KEY,
    position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE eventstore.storage_mode (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    mode text NOT NULL CHECK (mode IN ('native', 'timescale'))
);
