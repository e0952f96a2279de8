-- Whose a file is (issue 10, docs/security.md "Isolation"): the tenant (management company) it
-- belongs to and the verified person who uploaded it, both from the caller's token, never from
-- the request. NULL for files stored without authentication (or by a service acting for
-- itself): those are visible only to callers who see every tenant.
ALTER TABLE storage.files
    ADD COLUMN tenant text,
    ADD COLUMN created_by text;

-- VerifyFiles walks one tenant's live files in file id order (keyset batches).
CREATE INDEX files_by_tenant_id
    ON storage.files (tenant, file_id)
    WHERE deleted_at IS NULL;
