-- The claim without its probe of session_checks (not exact: it ignores the schedule and what
-- was checked in this run; it prices the probe).
BEGIN;
SELECT pg_advisory_xact_lock(1685218145, hashtext(current_schema())) \g /dev/null
DELETE FROM claims WHERE expires_at < now();
WITH picked AS (
  SELECT s."session_token"::text AS token, 0 AS checks,
         s."created_at" AS order_key, s."session_token" AS order_token
  FROM "public"."deposit_sessions" s
  WHERE s."state" = 'NEW'::text::text
  AND s."created_at" <= (now() - 0::bigint * interval '1 microsecond')::timestamp with time zone
  AND (:key::text IS NULL OR (s."created_at", s."session_token") > (:key::text::timestamp with time zone, :tok::text::text))
    AND s."session_token"::text NOT IN (SELECT unnest(c.tokens) FROM claims c)
  ORDER BY s."created_at", s."session_token"
  LIMIT 500
), claimed AS (
  INSERT INTO claims (run_id, worker_id, expires_at, tokens)
  SELECT 1, 'w', now() + 600000000::bigint * interval '1 microsecond', array_agg(p.token)
  FROM picked p
  HAVING count(*) > 0
  RETURNING id
), last AS (
  SELECT p.order_key::text AS key, p.token
  FROM picked p ORDER BY p.order_key DESC, p.order_token DESC LIMIT 1
)
SELECT p.token, p.checks, (SELECT key FROM last), (SELECT token FROM last), (SELECT id FROM claimed)
FROM picked p \g /dev/null
-- As the job does (it keeps about one batch ahead), two claims are live when the next is taken.
DELETE FROM claims WHERE id < (SELECT max(id) FROM claims) - 1;
COMMIT;
