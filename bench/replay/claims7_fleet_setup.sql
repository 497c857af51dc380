-- Seventh session (claim7.sql): a due schedule row for one session in ten, filed under its
-- session's creation time (as claims_sched_setup.sql on a template migrated with 0009), two other workers' claims of 1,000 live (unpacked by every claim);
INSERT INTO session_checks (session_token, next_check_at, checks, last_checked_at, created_at)
SELECT session_token, now() - interval '1 hour', 1, now() - interval '1 day', created_at
FROM public.deposit_sessions WHERE right(session_token, 1) = '9';
ANALYZE session_checks;
INSERT INTO claims (run_id, worker_id, expires_at, tokens)
SELECT 2, 'other', now() + interval '1 day', array_agg('other-' || c || '-' || i)
FROM generate_series(1, 2) c, generate_series(1, 1000) i GROUP BY c;
\set form text
\set window 1126
