-- Drops 0006's group commit; advance_heads (0003, 0004) is still there for the code before it.
DROP FUNCTION IF EXISTS eventstore.commit_group(
    text[], text[], text[], bigint[], integer[], text[], text[], bytea[], boolean[], integer[],
    uuid[], text[], integer[], text[], text[], bytea[], text[], text[], text[], text[], text[],
    boolean, text);
DROP FUNCTION IF EXISTS eventstore.iso_utc(timestamptz);
