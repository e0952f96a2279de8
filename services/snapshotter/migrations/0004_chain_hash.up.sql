-- Consumers verify the hash chain (issue 13, docs/event-store.md "Hash chain"): the hash of the
-- event at the snapshot's version (RecordedEvent.hash, or the link the snapshotter computed for
-- an event the event store had not hashed yet). A snapshot taken from this one checks the events
-- it folds on top against it (service_layer/history.py). NULL: not known (a row written before
-- the snapshotter verified, or over events never hashed); a fold from it takes its first hashed
-- event as it is and checks the chain from there on. Nullable without a default: adding it
-- rewrites no row.
ALTER TABLE snapshotter.snapshots ADD COLUMN chain_hash bytea;
