-- Snapshots of fund state and the per-fund progress that drives the triggers.
CREATE SCHEMA IF NOT EXISTS snapshotter;

-- One row per (fund, version, fold version): the fund's state exactly at that
-- version, as computed by that fold. The unique key makes every trigger
-- idempotent: a redelivered event, the catch-up, a second replica and a manual
-- call racing for the same version all end with one row (INSERT … ON CONFLICT
-- DO NOTHING, then read the winner).
CREATE TABLE snapshotter.snapshots (
    snapshot_id uuid PRIMARY KEY,
    fund_id text NOT NULL,
    version bigint NOT NULL CHECK (version >= 1),
    position bigint NOT NULL CHECK (position >= 1),
    -- recorded_at of the event at `version`, never the wall clock: time travel
    -- picks snapshots by it (FM-10, docs/failure-modes.md).
    event_time timestamptz NOT NULL,
    fold_version integer NOT NULL,
    trigger text NOT NULL CHECK (trigger IN ('EVENT_COUNT', 'DAILY', 'MANUAL')),
    events_since_previous bigint NOT NULL CHECK (events_since_previous >= 0),
    state jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (fund_id, version, fold_version)
);

-- "Newest snapshot of this fold at or before version v / time t".
CREATE INDEX snapshots_by_version ON snapshotter.snapshots (fund_id, fold_version, version DESC);
CREATE INDEX snapshots_by_event_time
    ON snapshotter.snapshots (fund_id, fold_version, event_time DESC, version DESC);

-- What the snapshotter has seen of each fund. Invariant: every multiple of
-- SNAPSHOT_EVERY_EVENTS up to last_version has its count snapshot (written
-- before last_version moves past it), so deciding by versions can neither miss
-- nor double one. last_snapshot_* feeds the daily trigger's "changed since".
CREATE TABLE snapshotter.fund_progress (
    fund_id text PRIMARY KEY,
    last_version bigint NOT NULL DEFAULT 0 CHECK (last_version >= 0),
    last_position bigint NOT NULL DEFAULT 0,
    last_event_time timestamptz,
    last_snapshot_version bigint NOT NULL DEFAULT 0,
    last_snapshot_fold_version integer,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The global log position the catch-up has read up to (one row).
CREATE TABLE snapshotter.catchup_checkpoint (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    position bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO snapshotter.catchup_checkpoint DEFAULT VALUES;
