-- A schedule row for one session in ten, last checked a day ago and due (as after earlier runs),
-- so that a claim's probe of session_checks finds rows.
INSERT INTO session_checks (session_token, next_check_at, checks, last_checked_at)
SELECT session_token, now() - interval '1 hour', 1, now() - interval '1 day'
FROM public.deposit_sessions WHERE right(session_token, 1) = '9';
ANALYZE session_checks;
