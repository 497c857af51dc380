-- As claims_checks_setup.sql (a due schedule row for one session in ten, last checked a day
-- ago), on the schedule of migration 0009: each row carries its session's creation time
-- (created_at, as the apply's upsert writes it) and session_checks has an index on it, so a
-- claim reads the rows of the window it walks with one range scan instead of probing the
-- primary key once per candidate. (A template migrated with 0009 has both already.)
ALTER TABLE session_checks ADD COLUMN IF NOT EXISTS created_at timestamptz;
CREATE INDEX IF NOT EXISTS session_checks_created_at_idx ON session_checks (created_at);
INSERT INTO session_checks (session_token, next_check_at, checks, last_checked_at, created_at)
SELECT session_token, now() - interval '1 hour', 1, now() - interval '1 day', created_at
FROM public.deposit_sessions WHERE right(session_token, 1) = '9';
ANALYZE session_checks;
