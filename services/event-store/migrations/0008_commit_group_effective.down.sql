-- Drops 0008's commit_group; 0006's (still there) takes the appends of the code before 0008.
DROP FUNCTION IF EXISTS eventstore.commit_group(
    text[], text[], text[], bigint[], integer[], text[], text[], bytea[], boolean[],
    timestamptz[], integer[], uuid[], text[], integer[], text[], text[], bytea[], text[], text[],
    text[], text[], text[], timestamptz[], boolean, text, interval);
