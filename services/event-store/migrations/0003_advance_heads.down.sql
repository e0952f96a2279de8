DROP FUNCTION IF EXISTS eventstore.advance_heads(text[], text[], text[], bigint[], integer[], uuid[]);
