-- Consumers verify the hash chain (issue 13, docs/event-store.md "Hash chain"): the hash of the
-- last event a fund's row holds (RecordedEvent.hash, or the link the projector computed for an
-- event the event store had not hashed yet). The next events are checked against it before they
-- are applied. NULL: not known (a row written before the projector verified); the next hashed
-- event is then taken as it is and the chain checked from it on. A rebuild's table is created
-- LIKE the live one, so it has the column too.
ALTER TABLE projector.fund_state ADD COLUMN chain_hash bytea;
