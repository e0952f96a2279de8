-- The projector's own schema: current fund state, one row per fund, plus the
-- catch-up checkpoint. Nothing here is read by another service.
CREATE SCHEMA IF NOT EXISTS projector;

-- One row per fund. `version` is the stream version the state stands at and
-- `position` the global log position of the last event applied; the exactly-once
-- apply path locks this row, checks `version` and writes the new state in one
-- transaction. Index and constraint names start with the table's name: a rebuild
-- creates a copy (LIKE … INCLUDING ALL) and renames both sets on the swap.
CREATE TABLE projector.fund_state (
    fund_id text NOT NULL,
    name text NOT NULL,
    state jsonb NOT NULL,
    version bigint NOT NULL CHECK (version >= 0),
    position bigint NOT NULL CHECK (position >= 0),
    fold_version integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fund_state_pkey PRIMARY KEY (fund_id)
);

-- One row: every fund event at or below `position` is applied. Only the catch-up
-- from the log (which reads every fund event in position order) and the rebuild
-- swap move it; the bus applies events out of global order across funds, so the
-- highest position applied is not a safe place to resume from.
CREATE TABLE projector.checkpoint (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    position bigint NOT NULL DEFAULT 0 CHECK (position >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO projector.checkpoint DEFAULT VALUES;
