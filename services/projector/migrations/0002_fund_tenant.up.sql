-- Whose a fund is (issue 10, docs/security.md "Isolation"): the tenant the event store recorded
-- for the fund's stream (RecordedEvent.tenant), copied from the events the projector applies.
-- NULL for a fund written without a tenant (authentication off, or a service acting for
-- itself): visible only to callers who see every tenant. Set once, never changed (the apply
-- path writes coalesce(tenant, …)).
ALTER TABLE projector.fund_state ADD COLUMN tenant text;

-- ListFunds of one tenant: its funds in fund id order (keyset pages). The name starts with the
-- table's, so a rebuild's copy renames with it (adapters/rebuild_space.py).
CREATE INDEX fund_state_tenant_fund ON projector.fund_state (tenant, fund_id);
