-- A hash index on session_checks' token for the claim's probe, and the schedule rows of
-- claims_checks_setup.sql.
CREATE INDEX session_checks_token_hash ON session_checks USING hash (session_token);
-- A schedule row for one session in ten, last checked a day ago and due (as after earlier runs),
-- so that a claim's probe of session_checks finds rows.
INSERT INTO session_checks (session_token, next_check_at, checks, last_checked_at)
SELECT session_token, now() - interval '1 hour', 1, now() - interval '1 day'
FROM public.deposit_sessions WHERE right(session_token, 1) = '9';
ANALYZE session_checks;
