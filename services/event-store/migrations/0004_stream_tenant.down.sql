-- Restores 0003's advance_heads and drops the identity columns (their values are lost).
DROP FUNCTION IF EXISTS eventstore.advance_heads(
    text[], text[], text[], bigint[], integer[], uuid[], text[], text[]);
CREATE FUNCTION eventstore.advance_heads(
    p_streams text[],
    p_categories text[],
    p_kinds text[],          -- 'any' | 'no_stream' | 'stream_exists' | 'exact'
    p_expected bigint[],     -- used for 'exact'
    p_counts integer[],      -- events per append
    p_ids uuid[]             -- every append's event ids, concatenated in order
) RETURNS TABLE (new_version bigint, actual_version bigint, claimed integer)
LANGUAGE plpgsql AS $$
DECLARE
    i integer;
    n integer;
    off integer := 0;
    v bigint;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_streams, 1), 0) LOOP
        n := p_counts[i];
        v := NULL;
        IF p_kinds[i] = 'any' THEN
            INSERT INTO eventstore.streams AS s (stream_id, category, version)
            VALUES (p_streams[i], p_categories[i], n)
            ON CONFLICT (stream_id) DO UPDATE SET version = s.version + excluded.version
            RETURNING s.version INTO v;
        ELSIF p_kinds[i] = 'no_stream' THEN
            INSERT INTO eventstore.streams (stream_id, category, version)
            VALUES (p_streams[i], p_categories[i], n)
            ON CONFLICT (stream_id) DO NOTHING
            RETURNING version INTO v;
        ELSIF p_kinds[i] = 'stream_exists' THEN
            UPDATE eventstore.streams SET version = version + n
            WHERE stream_id = p_streams[i] RETURNING version INTO v;
        ELSE
            UPDATE eventstore.streams SET version = version + n
            WHERE stream_id = p_streams[i] AND version = p_expected[i]
            RETURNING version INTO v;
        END IF;

        IF v IS NULL THEN
            new_version := NULL;
            claimed := 0;
            SELECT s.version INTO actual_version FROM eventstore.streams s
            WHERE s.stream_id = p_streams[i];
        ELSE
            INSERT INTO eventstore.event_ids (event_id, stream_id, version)
            SELECT t.id, p_streams[i], v - n + t.ord
            FROM unnest(p_ids[off + 1 : off + n]) WITH ORDINALITY AS t(id, ord)
            ON CONFLICT DO NOTHING;
            GET DIAGNOSTICS claimed = ROW_COUNT;
            actual_version := v;
            new_version := v;
            IF claimed < n THEN
                -- Only this append's claims can sit above the old head version.
                DELETE FROM eventstore.event_ids
                WHERE event_id = ANY (p_ids[off + 1 : off + n])
                  AND stream_id = p_streams[i] AND version > v - n;
                UPDATE eventstore.streams SET version = version - n
                WHERE stream_id = p_streams[i];
                DELETE FROM eventstore.streams WHERE stream_id = p_streams[i] AND version = 0;
            END IF;
        END IF;
        off := off + n;
        RETURN NEXT;
    END LOOP;
END;
$$;
DROP INDEX IF EXISTS eventstore.events_tenant_position;
ALTER TABLE eventstore.events DROP COLUMN IF EXISTS actor;
ALTER TABLE eventstore.events DROP COLUMN IF EXISTS tenant;
ALTER TABLE eventstore.streams DROP COLUMN IF EXISTS tenant;
