-- The claim as src/store/sql/claim.sql renders it since 0008 (default mapping): session_checks
-- probed in the "C" collation (needs a database migrated with 0008), and the token lists of the
-- store's own live claims not unpacked. The job passes their ids; every live claim of this replay
-- is the store's own, so `c.run_id <> 1` stands for that list here.
BEGIN;
SELECT pg_advisory_xact_lock(1685218145, hashtext(current_schema())) \g /dev/null
DELETE FROM claims WHERE expires_at < now();
WITH picked AS (
  SELECT s."session_token"::text AS token, coalesce(k.checks, 0) AS checks,
         s."created_at" AS order_key, s."session_token" AS order_token
  FROM "public"."deposit_sessions" s LEFT JOIN session_checks k ON k.session_token = s."session_token"::text COLLATE "C"
  WHERE s."state" = 'NEW'::text::text
  AND s."created_at" <= (now() - 0::bigint * interval '1 microsecond')::timestamp with time zone
  AND (NULL::text IS NULL OR s."created_at" >= NULL::text::timestamptz::timestamp with time zone)
  AND (NULL::text IS NULL OR s."created_at" < NULL::text::timestamptz::timestamp with time zone)
  AND (true::boolean OR k.next_check_at IS NULL OR k.next_check_at <= :'cutoff'::timestamptz)
  AND (k.last_checked_at IS NULL OR k.last_checked_at < :'cutoff'::timestamptz)
  AND (:key::text IS NULL OR (s."created_at", s."session_token") > (:key::text::timestamp with time zone, :tok::text::text))
    AND s."session_token"::text NOT IN (SELECT unnest(c.tokens) FROM claims c
                                        WHERE :key::text IS NULL OR c.run_id <> 1)
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
