-- Whose a fund's snapshots are (issue 10, docs/security.md "Isolation"): the tenant the event
-- store recorded for the fund's stream (RecordedEvent.tenant), copied from the events the
-- snapshot was folded from. NULL: written without a tenant (authentication off, a service
-- acting for itself, or before tenants were recorded), visible only to callers who see every
-- tenant. fund_progress records it too: the snapshotter's one lookup of a fund's tenant.
ALTER TABLE snapshotter.snapshots ADD COLUMN tenant text;
ALTER TABLE snapshotter.fund_progress ADD COLUMN tenant text;
