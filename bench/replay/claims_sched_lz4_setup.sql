-- claims_sched_setup.sql, and the claims' token lists compressed with lz4 instead of pglz.
ALTER TABLE session_checks ADD COLUMN IF NOT EXISTS created_at timestamptz;
CREATE INDEX IF NOT EXISTS session_checks_created_at_idx ON session_checks (created_at);
INSERT INTO session_checks (session_token, next_check_at, checks, last_checked_at, created_at)
SELECT session_token, now() - interval '1 hour', 1, now() - interval '1 day', created_at
FROM public.deposit_sessions WHERE right(session_token, 1) = '9';
ANALYZE session_checks;
ALTER TABLE claims ALTER COLUMN tokens SET COMPRESSION lz4;
