-- The storage service's record of every file it keeps in object storage.
CREATE SCHEMA IF NOT EXISTS storage;

-- One row per uploaded file. A row exists only once its object is complete in
-- the bucket and its FILE_ATTACHED event is on the entity's stream (both happen
-- inside the transaction that inserts it), so a live row always has an object.
-- Deleting sets deleted_at (the row stays as an audit trail); every read of
-- "the file" filters on deleted_at IS NULL.
CREATE TABLE storage.files (
    file_id uuid PRIMARY KEY,
    -- users/<owner>/<entity_type>s/<entity_id>/<file_id>.<ext>: unique because
    -- the file id is in it; VerifyFiles looks objects up by it.
    object_key text NOT NULL UNIQUE,
    size bigint NOT NULL CHECK (size >= 0),
    content_type text NOT NULL,
    sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    owner_user_id text NOT NULL,
    entity_type text NOT NULL,
    entity_id text NOT NULL,
    file_name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);

-- ListFiles pages newest first by (created_at, file_id), by owner or by entity;
-- only live files are listed, so the indexes hold only those.
CREATE INDEX files_by_owner
    ON storage.files (owner_user_id, created_at DESC, file_id DESC)
    WHERE deleted_at IS NULL;
CREATE INDEX files_by_entity
    ON storage.files (entity_type, entity_id, created_at DESC, file_id DESC)
    WHERE deleted_at IS NULL;

-- VerifyFiles walks one owner's live files in file id order (keyset batches).
CREATE INDEX files_by_owner_id
    ON storage.files (owner_user_id, file_id)
    WHERE deleted_at IS NULL;
