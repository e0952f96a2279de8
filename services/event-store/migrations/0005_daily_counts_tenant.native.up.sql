-- Daily counts per tenant, so GetDailyCounts of a person counts only their tenant's events
-- ('' for events of streams without a tenant). Existing rows predate tenants: they keep ''.
ALTER TABLE eventstore.daily_counts ADD COLUMN tenant text NOT NULL DEFAULT '';
ALTER TABLE eventstore.daily_counts DROP CONSTRAINT daily_counts_pkey;
ALTER TABLE eventstore.daily_counts ADD PRIMARY KEY (day, tenant, user_id, event_type);
