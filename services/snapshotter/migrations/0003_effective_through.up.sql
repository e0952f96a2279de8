-- Business time (issue 12): the latest effective time folded into a snapshot. Every snapshot is
-- a complete prefix of its fund's log (every event up to `version`, folded in effective order),
-- so this is max(effective_at) over those events. Time travel uses it to decide whether a
-- snapshot may answer a question about business date E (effective_through <= E) and whether an
-- event after it sorts before it (a backdated one: effective_at < effective_through).
-- Nullable and without a default, so adding it rewrites no row: rows written before it (all of
-- an older fold version) read as NULL and are never used by time travel; the upkeep re-takes
-- them with the current fold (service_layer/refold.py).
ALTER TABLE snapshotter.snapshots ADD COLUMN effective_through timestamptz;
