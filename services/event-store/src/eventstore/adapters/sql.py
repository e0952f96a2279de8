"""SQL of the append path. The write itself is one PL/pgSQL function, eventstore.commit_group
(migrations/0006_commit_group.up.sql, whose header tells the locking story; the overload called
here, with business time, is 0008_commit_group_effective.up.sql)."""

# One group commit, one statement (with autocommit, one round trip): see group_write.py.
COMMIT_GROUP = """
SELECT r_outcome, r_first_version, r_first_position, r_last_position, r_recorded_at,
       r_actual_version, r_result
FROM eventstore.commit_group(
    $1::text[], $2::text[], $3::text[], $4::bigint[], $5::int[], $6::text[], $7::text[],
    $8::bytea[], $9::boolean[], $10::timestamptz[], $11::int[], $12::uuid[], $13::text[],
    $14::int[], $15::text[], $16::text[], $17::bytea[], $18::text[], $19::text[], $20::text[],
    $21::text[], $22::text[], $23::timestamptz[], $24::boolean, $25::text, $26::interval)
"""

# The daily rollup as commit_group bumps it in native mode, for fixtures that put events of
# past days into the log (tests/eventstore_storage_support.py).
BUMP_DAILY_COUNTS = """
INSERT INTO eventstore.daily_counts AS d (day, tenant, user_id, event_type, count)
SELECT ($1::timestamptz AT TIME ZONE 'UTC')::date, te, u, t, c
FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[]) AS v(te, u, t, c)
ON CONFLICT (day, tenant, user_id, event_type) DO UPDATE SET count = d.count + excluded.count
"""
