DROP INDEX IF EXISTS projector.fund_state_tenant_fund;
ALTER TABLE projector.fund_state DROP COLUMN IF EXISTS tenant;
