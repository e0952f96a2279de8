-- Folds the tenants' counts back into one row per (day, user, event type).
CREATE TEMPORARY TABLE daily_counts_folded ON COMMIT DROP AS
SELECT day, user_id, event_type, sum(count)::bigint AS count
FROM eventstore.daily_counts GROUP BY 1, 2, 3;
DELETE FROM eventstore.daily_counts;
ALTER TABLE eventstore.daily_counts DROP CONSTRAINT daily_counts_pkey;
ALTER TABLE eventstore.daily_counts DROP COLUMN tenant;
INSERT INTO eventstore.daily_counts (day, user_id, event_type, count)
SELECT day, user_id, event_type, count FROM daily_counts_folded;
ALTER TABLE eventstore.daily_counts ADD PRIMARY KEY (day, user_id, event_type);
