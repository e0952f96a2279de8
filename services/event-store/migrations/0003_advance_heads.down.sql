-- eventstore.advance_heads (created by 0003_advance_heads.up.sql) is called once per
-- group commit by write_group in services/event-store/src/eventstore/adapters/group_write.py
-- (query text: ADVANCE_HEADS in adapters/sql.py). This note lives here because the up
-- script is checksummed once applied: editing it, even a comment, makes every database
-- that already ran it refuse to migrate.
DROP FUNCTION IF EXISTS eventstore.advance_heads(text[], text[], text[], bigint[], integer[], uuid[]);
