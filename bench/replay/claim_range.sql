-- Claims of key ranges (claim_range_setup.sql): a claim stores the first and last (created_at,
-- token) of its batch, and its token list only when that span holds a NEW session it did not take;
-- candidates are tested against the spans of live range claims (NOT EXISTS) and the lists of the
-- others. Priced, not merged (bench/README.md, "Fifth session").
BEGIN;
SELECT pg_advisory_xact_lock(1685218145, hashtext(current_schema())) \g /dev/null
DELETE FROM claims WHERE expires_at < now();
WITH ranges AS MATERIALIZED (
  SELECT c.first_key::timestamp with time zone AS fk, c.first_token::text AS ft,
         c.last_key::timestamp with time zone AS lk, c.last_token::text AS lt
  FROM claims c WHERE c.tokens IS NULL
), picked AS (
  SELECT s."session_token"::text AS token, coalesce(k.checks, 0) AS checks,
         s."created_at" AS order_key, s."session_token" AS order_token
  FROM "public"."deposit_sessions" s LEFT JOIN session_checks k ON k.session_token = s."session_token"::text
  WHERE s."state" = 'NEW'::text::text
  AND s."created_at" <= (now() - 0::bigint * interval '1 microsecond')::timestamp with time zone
  AND (NULL::text IS NULL OR s."created_at" >= NULL::text::timestamptz::timestamp with time zone)
  AND (NULL::text IS NULL OR s."created_at" < NULL::text::timestamptz::timestamp with time zone)
  AND (true::boolean OR k.next_check_at IS NULL OR k.next_check_at <= :'cutoff'::timestamptz)
  AND (k.last_checked_at IS NULL OR k.last_checked_at < :'cutoff'::timestamptz)
  AND (:key::text IS NULL OR (s."created_at", s."session_token") > (:key::text::timestamp with time zone, :tok::text::text))
    AND s."session_token"::text NOT IN (SELECT unnest(c.tokens) FROM claims c WHERE c.tokens IS NOT NULL)
    AND NOT EXISTS (SELECT 1 FROM ranges r
                    WHERE (s."created_at", s."session_token") >= (r.fk, r.ft)
                      AND (s."created_at", s."session_token") <= (r.lk, r.lt))
  ORDER BY s."created_at", s."session_token"
  LIMIT 500
), span AS MATERIALIZED (
  SELECT f.order_key AS fk, f.order_token AS ft, l.order_key AS lk, l.order_token AS lt,
         (SELECT count(*) FROM picked) AS n
  FROM (SELECT * FROM picked ORDER BY order_key, order_token LIMIT 1) f,
       (SELECT * FROM picked ORDER BY order_key DESC, order_token DESC LIMIT 1) l
), claimed AS (
  INSERT INTO claims (run_id, worker_id, expires_at, tokens, first_key, first_token, last_key, last_token)
  SELECT 1, 'w', now() + 600000000::bigint * interval '1 microsecond',
         CASE WHEN (SELECT count(*) FROM "public"."deposit_sessions" s
                    WHERE s."state" = 'NEW'::text::text
                      AND (s."created_at", s."session_token") >= ((SELECT fk FROM span), (SELECT ft FROM span))
                      AND (s."created_at", s."session_token") <= ((SELECT lk FROM span), (SELECT lt FROM span))) = b.n
              THEN NULL ELSE (SELECT array_agg(p.token) FROM picked p) END,
         b.fk::text, b.ft::text, b.lk::text, b.lt::text
  FROM span b
  RETURNING id, tokens IS NULL AS ranged
)
SELECT p.token, p.checks, (SELECT lk::text FROM span), (SELECT lt FROM span), (SELECT id FROM claimed), (SELECT ranged FROM claimed)
FROM picked p \g /dev/null
-- As the job does (it keeps about one batch ahead), two claims are live when the next is taken.
DELETE FROM claims WHERE id < (SELECT max(id) FROM claims) - 1;
COMMIT;
