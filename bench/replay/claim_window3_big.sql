-- Lever 2 of the sixth session: claims of 1,000 sessions, two apply batches, taken every other
-- batch (the claim as claim_window3.sql otherwise: a window of 1,126): the statement, its planning, the advisory lock,
-- the expired-claims delete, the claims row and the commit once per 1,000 sessions. One earlier
-- claim is live when the next is taken (about one batch ahead, as the job keeps).
\if :{?odd}
\else
\set odd false
\endif
SELECT NOT :'odd'::boolean AS odd \gset
\if :odd
BEGIN;
SELECT pg_advisory_xact_lock(1685218145, hashtext(current_schema())) \g /dev/null
DELETE FROM claims WHERE expires_at < now();
WITH walked AS MATERIALIZED (
  SELECT s."session_token"::text AS token, s."created_at" AS order_key,
         s."session_token" AS order_token
  FROM "public"."deposit_sessions" s
  WHERE s."state" = 'NEW'::text::text
  AND s."created_at" <= (now() - 0::bigint * interval '1 microsecond')::timestamp with time zone
  AND (NULL::text IS NULL OR s."created_at" >= NULL::text::timestamptz::timestamp with time zone)
  AND (NULL::text IS NULL OR s."created_at" < NULL::text::timestamptz::timestamp with time zone)
  AND (:key::text IS NULL OR (s."created_at", s."session_token") > (:key::text::timestamp with time zone, :tok::text::text))
    AND s."session_token"::text NOT IN (SELECT unnest(c.tokens) FROM claims c
                                        WHERE :key::text IS NULL OR c.run_id <> 1)
  ORDER BY s."created_at", s."session_token"
  LIMIT 1126
), sched AS MATERIALIZED (
  SELECT k.session_token, k.next_check_at, k.last_checked_at
  FROM session_checks k
  WHERE k.created_at >= (SELECT min(w.order_key) FROM walked w)::timestamptz
    AND k.created_at <= (SELECT max(w.order_key) FROM walked w)::timestamptz
), picked AS MATERIALIZED (
  SELECT w.token, w.order_key, w.order_token
  FROM walked w LEFT JOIN sched k ON k.session_token = w.token COLLATE "C"
  WHERE (true::boolean OR k.next_check_at IS NULL OR k.next_check_at <= :'cutoff'::timestamptz)
    AND (k.last_checked_at IS NULL OR k.last_checked_at < :'cutoff'::timestamptz)
  ORDER BY w.order_key, w.order_token
  LIMIT 1000
), claimed AS (
  INSERT INTO claims (run_id, worker_id, expires_at, tokens)
  SELECT 1, 'w', now() + 600000000::bigint * interval '1 microsecond', array_agg(p.token)
  FROM picked p
  HAVING count(*) > 0
  RETURNING id
), last AS (
  -- The new position: the last session taken when the claim is full, else the window's end.
  SELECT x.key, x.token, (SELECT count(*) FROM walked) AS walked
  FROM ((SELECT p.order_key::text AS key, p.token, 1 AS rank FROM picked p
         WHERE (SELECT count(*) FROM picked) = 1000
         ORDER BY p.order_key DESC, p.order_token DESC LIMIT 1)
        UNION ALL
        (SELECT w.order_key::text, w.token, 2 FROM walked w
         ORDER BY w.order_key DESC, w.order_token DESC LIMIT 1)) x
  ORDER BY x.rank LIMIT 1
)
SELECT p.token, l.key, l.token, (SELECT id FROM claimed), l.walked
FROM last l LEFT JOIN picked p ON true
ORDER BY p.order_key, p.order_token \g /dev/null
DELETE FROM claims WHERE id < (SELECT max(id) FROM claims);
COMMIT;
\endif
