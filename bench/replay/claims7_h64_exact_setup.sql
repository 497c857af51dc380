-- Seventh session (claim7.sql): a due schedule row for one session in ten, filed under its
-- session's creation time (as claims_sched_setup.sql on a template migrated with 0009), claims as 64-bit hashes and a window of exactly 1,000;
INSERT INTO session_checks (session_token, next_check_at, checks, last_checked_at, created_at)
SELECT session_token, now() - interval '1 hour', 1, now() - interval '1 day', created_at
FROM public.deposit_sessions WHERE right(session_token, 1) = '9';
ANALYZE session_checks;
ALTER TABLE claims ADD COLUMN IF NOT EXISTS token_hashes bigint[];
ALTER TABLE claims ALTER COLUMN token_hashes SET STORAGE EXTERNAL;
ALTER TABLE claims SET (toast_tuple_target = 8160);
\set form h64
\set window 1000
