-- The range scan's worst case: a schedule row (with its creation time, 0009) for every session,
-- and nine sessions in ten no longer NEW (resolved after they were checked, so their schedule
-- rows stay). A window of 500 NEW sessions then spans about 5,000 schedule rows that the range
-- scan reads and the hash join drops; the probe of claim_v2.sql reads only the candidates' own.
ALTER TABLE session_checks ADD COLUMN IF NOT EXISTS created_at timestamptz;
CREATE INDEX IF NOT EXISTS session_checks_created_at_idx ON session_checks (created_at);
INSERT INTO session_checks (session_token, next_check_at, checks, last_checked_at, created_at)
SELECT session_token, now() - interval '1 hour', 1, now() - interval '1 day', created_at
FROM public.deposit_sessions;
UPDATE public.deposit_sessions SET state = 'COMPLETED' WHERE right(session_token, 1) <> '9';
VACUUM ANALYZE public.deposit_sessions;
VACUUM ANALYZE session_checks;
