-- Claims that hold 64-bit hashes of their tokens inline (no TOAST, no compression), on top of
-- checks_c_setup.sql.
ALTER TABLE claims ALTER COLUMN tokens TYPE bigint[] USING '{}';
ALTER TABLE claims ALTER COLUMN tokens SET STORAGE EXTERNAL;
ALTER TABLE claims SET (toast_tuple_target = 8160);
-- session_checks' token in the "C" collation (its primary key compares bytes, not the
-- database's collation), and the schedule rows of claims_checks_setup.sql.
ALTER TABLE session_checks ALTER COLUMN session_token TYPE text COLLATE "C";
-- A schedule row for one session in ten, last checked a day ago and due (as after earlier runs),
-- so that a claim's probe of session_checks finds rows.
INSERT INTO session_checks (session_token, next_check_at, checks, last_checked_at)
SELECT session_token, now() - interval '1 hour', 1, now() - interval '1 day'
FROM public.deposit_sessions WHERE right(session_token, 1) = '9';
ANALYZE session_checks;
