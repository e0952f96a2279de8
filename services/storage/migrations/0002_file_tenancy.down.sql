DROP INDEX IF EXISTS storage.files_by_tenant_id;
ALTER TABLE storage.files
    DROP COLUMN IF EXISTS created_by,
    DROP COLUMN IF EXISTS tenant;
