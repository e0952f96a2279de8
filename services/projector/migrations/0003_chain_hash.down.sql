ALTER TABLE projector.fund_state DROP COLUMN IF EXISTS chain_hash;
