ALTER TABLE snapshotter.fund_progress DROP COLUMN IF EXISTS tenant;
ALTER TABLE snapshotter.snapshots DROP COLUMN IF EXISTS tenant;
