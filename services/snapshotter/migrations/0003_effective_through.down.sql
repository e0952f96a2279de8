ALTER TABLE snapshotter.snapshots DROP COLUMN IF EXISTS effective_through;
