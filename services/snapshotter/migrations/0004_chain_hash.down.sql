ALTER TABLE snapshotter.snapshots DROP COLUMN IF EXISTS chain_hash;
