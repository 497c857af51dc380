-- Claims of key ranges (bench/README.md, fifth session): a claim row holds the first and last
-- (created_at, token) of its batch; its token list only when the range holds a NEW session the
-- claim did not take (then it is exact only as a list).
ALTER TABLE claims ALTER COLUMN tokens DROP NOT NULL,
  ADD COLUMN IF NOT EXISTS first_key text, ADD COLUMN IF NOT EXISTS first_token text,
  ADD COLUMN IF NOT EXISTS last_key text, ADD COLUMN IF NOT EXISTS last_token text;
-- A schedule row for one session in ten, last checked a day ago and due (as after earlier runs),
-- so that a claim's probe of session_checks finds rows.
INSERT INTO session_checks (session_token, next_check_at, checks, last_checked_at)
SELECT session_token, now() - interval '1 hour', 1, now() - interval '1 day'
FROM public.deposit_sessions WHERE right(session_token, 1) = '9';
ANALYZE session_checks;
