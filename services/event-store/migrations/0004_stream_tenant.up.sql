-- Identity in the log (docs/security.md, "What the event store records"): the tenant a
-- stream belongs to (set once, by the call that creates it: the tenant of the person it was
-- made for; NULL when a service created it for itself or authentication was off), every
-- event's copy of its stream's tenant (what tenant-scoped reads filter on, and what the relay
-- publishes), and the service that appended it (`actor`). Nullable: rows written before this
-- migration have none, and are visible only to callers not bound to a tenant.
ALTER TABLE eventstore.streams ADD COLUMN tenant text;
-- One column per statement: TimescaleDB alters a compressed hypertable one column at a time.
ALTER TABLE eventstore.events ADD COLUMN tenant text;
ALTER TABLE eventstore.events ADD COLUMN actor text;

-- ReadAll and Subscribe of a tenant walk its events in position order.
CREATE INDEX events_tenant_position ON eventstore.events (tenant, position)
    WHERE tenant IS NOT NULL;

-- advance_heads (0003) with the tenant rule, still one round trip per group commit:
-- p_tenants is the tenant a stream gets when this append creates it; p_scopes the tenant the
-- caller is bound to (NULL: any). An append whose stream exists with another tenant (or with
-- none, for a scoped caller) moves nothing and reports `foreign` — the caller answers
-- NOT_FOUND, exactly as for a stream that does not exist, and never its version. The check sits
-- in the same statement that locks the head, so a stream created concurrently by another
-- tenant cannot slip between a check and the write. Returns the stream's tenant, which every
-- event of the append carries.
DROP FUNCTION eventstore.advance_heads(text[], text[], text[], bigint[], integer[], uuid[]);

CREATE FUNCTION eventstore.advance_heads(
    p_streams text[],
    p_categories text[],
    p_kinds text[],          -- 'any' | 'no_stream' | 'stream_exists' | 'exact'
    p_expected bigint[],     -- used for 'exact'
    p_counts integer[],      -- events per append
    p_ids uuid[],            -- every append's event ids, concatenated in order
    p_tenants text[],        -- the tenant of a stream this append creates
    p_scopes text[]          -- the tenant the caller is bound to; NULL: any
) RETURNS TABLE (
    new_version bigint, actual_version bigint, claimed integer, foreign_stream boolean,
    stream_tenant text
)
LANGUAGE plpgsql AS $$
DECLARE
    i integer;
    n integer;
    off integer := 0;
    v bigint;
    t text;
    scope text;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_streams, 1), 0) LOOP
        n := p_counts[i];
        scope := p_scopes[i];
        v := NULL;
        t := NULL;
        IF p_kinds[i] = 'any' THEN
            INSERT INTO eventstore.streams AS s (stream_id, category, version, tenant)
            VALUES (p_streams[i], p_categories[i], n, p_tenants[i])
            ON CONFLICT (stream_id) DO UPDATE SET version = s.version + excluded.version
                WHERE scope IS NULL OR s.tenant IS NOT DISTINCT FROM scope
            RETURNING s.version, s.tenant INTO v, t;
        ELSIF p_kinds[i] = 'no_stream' THEN
            INSERT INTO eventstore.streams (stream_id, category, version, tenant)
            VALUES (p_streams[i], p_categories[i], n, p_tenants[i])
            ON CONFLICT (stream_id) DO NOTHING
            RETURNING version, tenant INTO v, t;
        ELSIF p_kinds[i] = 'stream_exists' THEN
            UPDATE eventstore.streams SET version = version + n
            WHERE stream_id = p_streams[i]
              AND (scope IS NULL OR tenant IS NOT DISTINCT FROM scope)
            RETURNING version, tenant INTO v, t;
        ELSE
            UPDATE eventstore.streams SET version = version + n
            WHERE stream_id = p_streams[i] AND version = p_expected[i]
              AND (scope IS NULL OR tenant IS NOT DISTINCT FROM scope)
            RETURNING version, tenant INTO v, t;
        END IF;

        foreign_stream := false;
        stream_tenant := t;
        IF v IS NULL THEN
            new_version := NULL;
            claimed := 0;
            SELECT s.version, s.tenant INTO actual_version, t FROM eventstore.streams s
            WHERE s.stream_id = p_streams[i];
            IF FOUND AND scope IS NOT NULL AND t IS DISTINCT FROM scope THEN
                foreign_stream := true;
                actual_version := NULL;  -- another tenant's version is not the caller's business
            END IF;
            stream_tenant := NULL;
        ELSE
            INSERT INTO eventstore.event_ids (event_id, stream_id, version)
            SELECT e.id, p_streams[i], v - n + e.ord
            FROM unnest(p_ids[off + 1 : off + n]) WITH ORDINALITY AS e(id, ord)
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
