-- The hash chain (docs/event-store.md, "Hash chain"; the reference implementation is
-- libs/kernel/src/fundledger_kernel/chain.py, and tests/integration/test_chain_sql.py holds the
-- two equal): every event's hash = sha256(previous hash || eventstore.chain_encoding(event)),
-- computed by commit_group in the append transaction under the log_head lock it already holds.
--
-- Online on a log of any size:
--   * the new columns are nullable without a default, a catalog change only (no row, compressed
--     or not, is rewritten). An event's hash is NULL until it is known: every event written
--     before this migration, until the back-fill (adapters/chain_backfill.py, the leader's
--     upkeep) has computed its stream's chain. A stream's head keeps its last hash and the
--     version it is the hash of (chain_version); an append chains on it only when that is the
--     stream's current version;
--   * commit_group keeps 0008's signature, its body replaced (CREATE OR REPLACE): replicas still
--     running the code of 0008 call the same function during a rolling upgrade and their events
--     are chained too; the one statement per group stays. Replicas older than 0008 call 0006's
--     function, which moves the version without the chain: the stream's chain_version then lags
--     its version, the next appends write NULL hashes and the back-fill catches the stream up.
-- Each ALTER takes an ACCESS EXCLUSIVE lock for an instant but waits for the reads already
-- running (past lock_timeout the migration fails cleanly, to run again). The heads first, then
-- the events: the order an append transaction takes them in (it writes the stream head before
-- it inserts the events), or the two would deadlock (seen with appends flowing).
SET LOCAL lock_timeout = '5s';
ALTER TABLE eventstore.streams ADD COLUMN last_hash bytea, ADD COLUMN chain_version bigint;
ALTER TABLE eventstore.events ADD COLUMN hash bytea;

-- The previous hash of a stream's first event.
CREATE FUNCTION eventstore.chain_genesis(p_stream text) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT sha256(convert_to('fundledger.chain.v1:' || p_stream, 'UTF8'))
$$;

-- A text field of the encoding: 4-byte big-endian length of its UTF-8 bytes, then the bytes;
-- NULL is the empty text (a reader sees both as "").
CREATE FUNCTION eventstore.chain_text(p text) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT int4send(octet_length(convert_to(coalesce(p, ''), 'UTF8')))
        || convert_to(coalesce(p, ''), 'UTF8')
$$;

-- An event's encoding, fields in the documented order; integers as int8send (8 bytes,
-- big-endian), times as microseconds since the Unix epoch (extract returns an exact numeric),
-- effective_at NULL = recorded_at, metadata pairs ordered by the UTF-8 bytes of their keys.
-- p_data is the payload's jsonb text form (what a read returns).
CREATE FUNCTION eventstore.chain_encoding(
    p_stream text, p_version bigint, p_position bigint, p_event_id uuid, p_category text,
    p_type text, p_schema_version integer, p_data text, p_metadata jsonb, p_causation text,
    p_correlation text, p_user text, p_source text, p_tenant text, p_actor text,
    p_recorded_at timestamptz, p_effective_at timestamptz
) RETURNS bytea
LANGUAGE sql STABLE AS $$
    SELECT eventstore.chain_text(p_stream) || int8send(p_version) || int8send(p_position)
        || eventstore.chain_text(p_event_id::text) || eventstore.chain_text(p_category)
        || eventstore.chain_text(p_type) || int8send(p_schema_version::bigint)
        || eventstore.chain_text(p_data)
        || (SELECT int4send(count(*)::integer)
                || coalesce(string_agg(eventstore.chain_text(m.key) || eventstore.chain_text(m.value),
                                       ''::bytea ORDER BY convert_to(m.key, 'UTF8')), ''::bytea)
            FROM jsonb_each_text(p_metadata) AS m)
        || eventstore.chain_text(p_causation) || eventstore.chain_text(p_correlation)
        || eventstore.chain_text(p_user) || eventstore.chain_text(p_source)
        || eventstore.chain_text(p_tenant) || eventstore.chain_text(p_actor)
        || int8send((extract(epoch FROM p_recorded_at) * 1000000)::bigint)
        || int8send((extract(epoch FROM coalesce(p_effective_at, p_recorded_at)) * 1000000)::bigint)
$$;

CREATE OR REPLACE FUNCTION eventstore.commit_group(
    -- one element per append
    p_streams text[],
    p_categories text[],
    p_kinds text[],            -- 'any' | 'no_stream' | 'stream_exists' | 'exact'
    p_expected bigint[],       -- used for 'exact'
    p_counts integer[],        -- events per append
    p_tenants text[],          -- the caller's tenant: a new stream gets it, an existing one
                               -- must have it; NULL: no check, a new stream gets none
    p_keys text[],             -- idempotency key; NULL: none
    p_hashes bytea[],          -- the request's hash, kept with its key
    p_replayable boolean[],    -- every event id chosen by the client (a retry may replay)
    p_latest_effective timestamptz[], -- the latest effective time of its events; NULL: none set
    -- one element per event, every append's events concatenated in order
    p_event_append integer[],  -- the index (1-based) of the event's append
    p_ids uuid[],
    p_types text[],
    p_schema_versions integer[],
    p_data text[],             -- JSON text
    p_metadata text[],         -- JSON text
    p_payload_hashes bytea[],
    p_causations text[],
    p_correlations text[],
    p_users text[],
    p_sources text[],
    p_actors text[],
    p_effective timestamptz[], -- NULL: unset (the event's recorded_at)
    -- the group
    p_rollup boolean,          -- native mode: bump eventstore.daily_counts here
    p_channel text,            -- pg_notify channel, told the last position
    p_horizon interval         -- how far after the commit time an effective time may lie
) RETURNS TABLE (
    r_outcome text,            -- appended | replayed | key_replayed | key_reused | not_found
                               -- | wrong_version | event_id_taken | effective_at_future
    r_first_version bigint,    -- appended, replayed
    r_first_position bigint,   -- appended, replayed
    r_last_position bigint,    -- appended, replayed
    r_recorded_at timestamptz, -- appended, replayed; effective_at_future: the commit time
    r_actual_version bigint,   -- wrong_version: the stream's version, NULL: no stream
    r_result jsonb             -- key_replayed: the stored result (AppendResult.to_json)
)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_apps integer := coalesce(array_length(p_streams, 1), 0);
    v_base bigint;             -- log_head's position before this group
    v_next bigint;             -- the last position taken so far
    v_now timestamptz;         -- every event's recorded_at
    v_off integer := 0;        -- events of the appends before this one
    v_n integer;
    v_kind text;
    v_scope text;
    v_ids uuid[];
    v_cur bigint;              -- the stream's version before this append (0: no stream)
    v_exists boolean;
    v_tenant text;             -- the stream's tenant
    v_first_at timestamptz;    -- the stream's first and last recorded_at: every event of it
    v_last_at timestamptz;     -- lies between them (what lets a read prune partitions)
    v_ok boolean;
    v_claimed integer;
    v_key_mine boolean;        -- this append claimed its key (to undo if it fails)
    v_key_hash bytea;
    v_found integer;
    v_same boolean;
    v_lo bigint;
    v_hi bigint;
    -- per append, for the group-wide statements: its first position (NULL: not appended),
    -- first version, event offset and stream tenant
    v_pos bigint[] := array_fill(NULL::bigint, ARRAY[v_apps]);
    v_ver bigint[] := array_fill(NULL::bigint, ARRAY[v_apps]);
    v_offs integer[] := array_fill(0, ARRAY[v_apps]);
    v_tenants text[] := array_fill(NULL::text, ARRAY[v_apps]);
    i integer;
    -- the hash chain (docs/event-store.md, "Hash chain")
    v_last_hash bytea;         -- the stream's last hash, of the version v_chain_version
    v_chain_version bigint;
    v_link bytea;              -- the hash chained so far; NULL: the stream's chain is not known
    v_hashes bytea[] := array_fill(NULL::bytea, ARRAY[coalesce(array_length(p_ids, 1), 0)]);
    k integer;
BEGIN
    -- The lock that serializes append transactions, first (see the top of this file). The
    -- clock is read once it is held and clamped to the previous group's, so recorded_at never
    -- decreases with position (FM-9).
    SELECT h.last_position, greatest(clock_timestamp(), h.last_recorded_at)
    INTO v_base, v_now
    FROM eventstore.log_head h
    FOR NO KEY UPDATE;
    v_next := v_base;

    FOR i IN 1 .. v_apps LOOP
        v_n := p_counts[i];
        v_kind := p_kinds[i];
        v_scope := p_tenants[i];
        v_ids := p_ids[v_off + 1 : v_off + v_n];
        v_offs[i] := v_off;
        r_outcome := NULL;
        r_first_version := NULL;
        r_first_position := NULL;
        r_last_position := NULL;
        r_recorded_at := NULL;
        r_actual_version := NULL;
        r_result := NULL;
        v_key_mine := false;

        SELECT s.version, s.tenant, s.first_recorded_at, s.last_recorded_at, s.last_hash,
               s.chain_version
        INTO v_cur, v_tenant, v_first_at, v_last_at, v_last_hash, v_chain_version
        FROM eventstore.streams s WHERE s.stream_id = p_streams[i];
        v_exists := FOUND;
        IF NOT v_exists THEN
            v_cur := 0;
            v_tenant := v_scope;  -- the tenant the stream gets if this append creates it
        END IF;

        -- 0. Business time: nothing effective after the commit time plus the horizon. Refused
        -- before anything of the append is written (its key included): a retry later, once the
        -- time has come, is a new request as far as the store is concerned.
        IF p_latest_effective[i] > v_now + p_horizon THEN
            r_outcome := 'effective_at_future';
            r_recorded_at := v_now;
        END IF;

        -- 1. The idempotency key, stored with the result this append has if it succeeds (undone
        -- below if it does not).
        IF r_outcome IS NULL AND p_keys[i] IS NOT NULL THEN
            INSERT INTO eventstore.idempotency_keys
                (stream_id, idempotency_key, request_hash, result)
            VALUES (p_streams[i], p_keys[i], p_hashes[i], jsonb_build_object(
                'first_version', v_cur + 1,
                'last_version', v_cur + v_n,
                'first_position', v_next + 1,
                'last_position', v_next + v_n,
                'recorded_at', eventstore.iso_utc(v_now),
                'event_ids', to_jsonb(v_ids)))
            ON CONFLICT DO NOTHING;
            GET DIAGNOSTICS v_claimed = ROW_COUNT;
            v_key_mine := v_claimed = 1;
            IF NOT v_key_mine THEN
                -- Committed by an earlier request. Its append committed, so its stream did
                -- too: one of another tenant answers not-found, never someone else's result.
                IF v_scope IS NOT NULL AND (NOT v_exists OR v_tenant IS DISTINCT FROM v_scope)
                THEN
                    r_outcome := 'not_found';
                ELSE
                    SELECT k.request_hash, k.result INTO v_key_hash, r_result
                    FROM eventstore.idempotency_keys k
                    WHERE k.stream_id = p_streams[i] AND k.idempotency_key = p_keys[i];
                    IF v_key_hash = p_hashes[i] THEN
                        r_outcome := 'key_replayed';
                    ELSE
                        r_outcome := 'key_reused';
                        r_result := NULL;
                    END IF;
                END IF;
            END IF;
        END IF;

        IF r_outcome IS NULL THEN
            -- 2. Tenant and expectation. Another tenant's stream (or, for a caller bound to a
            -- tenant, one without any) moves nothing and is reported as not found, its version
            -- withheld.
            IF v_exists AND v_scope IS NOT NULL AND v_tenant IS DISTINCT FROM v_scope THEN
                r_outcome := 'not_found';
            ELSE
                v_ok := CASE v_kind
                    WHEN 'any' THEN true
                    WHEN 'no_stream' THEN NOT v_exists
                    WHEN 'stream_exists' THEN v_exists
                    ELSE v_exists AND v_cur = p_expected[i]
                END;
                IF NOT v_ok THEN
                    r_outcome := 'wrong_version';
                    r_actual_version := CASE WHEN v_exists THEN v_cur END;
                END IF;
            END IF;
        END IF;

        IF r_outcome IS NULL THEN
            -- 3. The event ids, globally unique (the relay publishes with them as message ids).
            INSERT INTO eventstore.event_ids (event_id, stream_id, version)
            SELECT e.id, p_streams[i], v_cur + e.ord
            FROM unnest(v_ids) WITH ORDINALITY AS e(id, ord)
            ON CONFLICT DO NOTHING;
            GET DIAGNOSTICS v_claimed = ROW_COUNT;
            IF v_claimed < v_n THEN
                -- Only this append's claims sit above the stream's version.
                DELETE FROM eventstore.event_ids
                WHERE event_id = ANY (v_ids) AND stream_id = p_streams[i] AND version > v_cur;
                r_outcome := 'event_id_taken';
            END IF;
        END IF;

        IF r_outcome IS NULL THEN
            -- 4a. The events' hashes, each chained on the one before: on the stream's last
            -- hash when it is the hash of its current version, on the genesis hash for a new
            -- stream. A stream whose chain is not known yet (events from before the chain, or
            -- appended by a replica still running the code before 0009 through 0006's
            -- function, which leaves last_hash behind its version) gets NULL hashes: the
            -- back-fill (adapters/chain_backfill.py) computes them and the head's, and from
            -- then on appends chain again. Safe without more locking: the head row and its
            -- hash move only under log_head, which this transaction holds (the back-fill
            -- takes the head row's lock for its last batch, which makes appends to that
            -- stream wait for it, never the other way round).
            v_link := CASE
                WHEN NOT v_exists OR v_cur = 0 THEN eventstore.chain_genesis(p_streams[i])
                WHEN v_chain_version = v_cur THEN v_last_hash
            END;
            IF v_link IS NOT NULL THEN
                FOR k IN 1 .. v_n LOOP
                    v_link := sha256(v_link || eventstore.chain_encoding(
                        p_streams[i], v_cur + k, v_next + k, p_ids[v_off + k], p_categories[i],
                        p_types[v_off + k], p_schema_versions[v_off + k],
                        p_data[v_off + k]::jsonb::text, p_metadata[v_off + k]::jsonb,
                        p_causations[v_off + k], p_correlations[v_off + k], p_users[v_off + k],
                        p_sources[v_off + k], v_tenant, p_actors[v_off + k], v_now,
                        p_effective[v_off + k]));
                    v_hashes[v_off + k] := v_link;
                END LOOP;
            END IF;
            -- 4b. The head moves once: version, recorded_at and the chain together.
            IF v_exists THEN
                UPDATE eventstore.streams
                SET version = v_cur + v_n,
                    first_recorded_at = coalesce(first_recorded_at, v_now),
                    last_recorded_at = v_now,
                    last_hash = coalesce(v_link, last_hash),
                    chain_version = CASE WHEN v_link IS NULL THEN chain_version
                                         ELSE v_cur + v_n END
                WHERE stream_id = p_streams[i] AND version = v_cur;
                IF NOT FOUND THEN
                    -- Moved by a writer that did not take log_head first: fail the group
                    -- (the caller retries it) rather than lose that write.
                    RAISE EXCEPTION 'stream % moved under a group commit', p_streams[i]
                        USING ERRCODE = 'serialization_failure';
                END IF;
            ELSE
                INSERT INTO eventstore.streams
                    (stream_id, category, version, tenant, first_recorded_at, last_recorded_at,
                     last_hash, chain_version)
                VALUES (p_streams[i], p_categories[i], v_n, v_scope, v_now, v_now, v_link, v_n);
            END IF;
            v_pos[i] := v_next + 1;
            v_ver[i] := v_cur + 1;
            v_tenants[i] := v_tenant;
            r_outcome := 'appended';
            r_first_version := v_cur + 1;
            r_first_position := v_next + 1;
            r_last_position := v_next + v_n;
            r_recorded_at := v_now;
            v_next := v_next + v_n;
        ELSE
            -- Undo this append's writes: only its key can be left (steps 2, 3).
            IF v_key_mine THEN
                DELETE FROM eventstore.idempotency_keys
                WHERE stream_id = p_streams[i] AND idempotency_key = p_keys[i];
            END IF;
            IF r_outcome IN ('wrong_version', 'event_id_taken') AND p_replayable[i] THEN
                -- A retry of an append already in the stream: every id there, in order and
                -- consecutive, where the expectation says they should be.
                SELECT count(*)::integer, bool_and(x.stream_id = p_streams[i]),
                       min(x.version - u.ord), max(x.version - u.ord)
                INTO v_found, v_same, v_lo, v_hi
                FROM unnest(v_ids) WITH ORDINALITY AS u(id, ord)
                JOIN eventstore.event_ids x ON x.event_id = u.id;
                IF v_found = v_n AND v_same AND v_lo = v_hi
                   AND (v_kind <> 'exact' OR v_lo = p_expected[i])
                   AND (v_kind <> 'no_stream' OR v_lo = 0) THEN
                    -- A dynamic statement, planned with its values (never as a generic plan
                    -- over every partition), which the stream's recorded_at bounds prune to
                    -- the partitions it wrote.
                    EXECUTE 'SELECT min(position), max(position), max(recorded_at) '
                            'FROM eventstore.events '
                            'WHERE stream_id = $1 AND version BETWEEN $2 AND $3 '
                            'AND recorded_at BETWEEN $4 AND $5'
                    INTO r_first_position, r_last_position, r_recorded_at
                    USING p_streams[i], v_lo + 1, v_lo + v_n, v_first_at, v_last_at;
                    IF r_first_position IS NOT NULL THEN
                        r_outcome := 'replayed';
                        r_first_version := v_lo + 1;
                        r_actual_version := NULL;
                    ELSE
                        r_last_position := NULL;
                        r_recorded_at := NULL;
                    END IF;
                END IF;
            END IF;
        END IF;
        v_off := v_off + v_n;
        RETURN NEXT;
    END LOOP;

    IF v_next = v_base THEN
        RETURN;  -- nothing appended: no positions, no events, nothing to tell
    END IF;

    UPDATE eventstore.log_head SET last_position = v_next, last_recorded_at = v_now;

    INSERT INTO eventstore.events (
        position, stream_id, category, version, event_id, event_type, schema_version, data,
        metadata, payload_hash, idempotency_key, causation_id, correlation_id, user_id, source,
        tenant, actor, recorded_at, effective_at, hash)
    SELECT v_pos[e.a] + (e.ord - v_offs[e.a] - 1), p_streams[e.a], p_categories[e.a],
           v_ver[e.a] + (e.ord - v_offs[e.a] - 1), e.id, e.t, e.sv, e.d::jsonb, e.m::jsonb,
           e.h, p_keys[e.a], e.ca, e.co, e.u, e.so, v_tenants[e.a], e.ac, v_now, e.ef,
           v_hashes[e.ord]
    FROM unnest(p_event_append, p_ids, p_types, p_schema_versions, p_data, p_metadata,
                p_payload_hashes, p_causations, p_correlations, p_users, p_sources, p_actors,
                p_effective)
         WITH ORDINALITY AS e(a, id, t, sv, d, m, h, ca, co, u, so, ac, ef, ord)
    WHERE v_pos[e.a] IS NOT NULL;

    IF p_rollup THEN
        INSERT INTO eventstore.daily_counts AS d (day, tenant, user_id, event_type, count)
        SELECT (v_now AT TIME ZONE 'UTC')::date, coalesce(v_tenants[e.a], ''),
               coalesce(e.u, ''), e.t, count(*)
        FROM unnest(p_event_append, p_types, p_users) AS e(a, t, u)
        WHERE v_pos[e.a] IS NOT NULL
        GROUP BY 2, 3, 4
        ORDER BY 2, 3, 4
        ON CONFLICT (day, tenant, user_id, event_type) DO UPDATE SET count = d.count + excluded.count;
    END IF;

    PERFORM pg_notify(p_channel, v_next::text);
END;
$$;
