-- Seventh session: the claim as the job sends it at d9088bb (src/store/sql/claim.sql: a window
-- sized from the due share, two write batches per claim, so a claim of 1,000 every other batch),
-- in the form the variant's setup chooses (claims7_*_setup.sql set :form, :window and :fleet):
--   form text  the token list as text[] (lz4, TOAST), as at d9088bb
--   form h64   64-bit hashes of the tokens inline (bigint[] `token_hashes`, migration 0010's
--              column), `tokens` holding one NULL; both forms anti-joined
-- One earlier claim of the run is live when the next is taken (about one batch ahead, as the job
-- keeps); the store skips its own claims (c.run_id <> 1 stands for c.id <> ALL ($13)), so only
-- other workers' claims (the setups with :fleet put two of 1,000 sessions live) are unpacked.
\if :{?form}
\else
\set form text
\endif
\if :{?window}
\else
\set window 1126
\endif
\if :{?odd}
\else
\set odd false
\endif
SELECT NOT :'odd'::boolean AS odd, :'form' = 'h64' AS h64 \gset
\if :odd
BEGIN;
SELECT pg_advisory_xact_lock(1685218145, hashtext(current_schema())) \g /dev/null
DELETE FROM claims WHERE expires_at < now();
\if :h64
WITH walked AS MATERIALIZED (
  SELECT s."session_token"::text AS token, s."created_at" AS order_key, s."session_token" AS order_token
  FROM "public"."deposit_sessions" s
  WHERE s."state" = 'NEW'::text::text
  AND s."created_at" <= (now() - 0::bigint * interval '1 microsecond')::timestamp with time zone
  AND (NULL::text IS NULL OR s."created_at" >= NULL::text::timestamptz::timestamp with time zone)
  AND (NULL::text IS NULL OR s."created_at" < NULL::text::timestamptz::timestamp with time zone)
  AND (:key::text IS NULL
       OR (s."created_at", s."session_token") > (:key::text::timestamp with time zone, :tok::text::text))
    AND hashtextextended(s."session_token"::text COLLATE "C", 0) NOT IN (
          SELECT unnest(c.token_hashes) FROM claims c
          WHERE c.token_hashes IS NOT NULL AND (:key::text IS NULL OR c.run_id <> 1))
    AND s."session_token"::text NOT IN (
          SELECT unnest(c.tokens) FROM claims c
          WHERE c.token_hashes IS NULL AND (:key::text IS NULL OR c.run_id <> 1))
  ORDER BY s."created_at", s."session_token"
  LIMIT :window::integer
), sched AS MATERIALIZED (
  SELECT k.session_token, k.next_check_at, k.last_checked_at
  FROM session_checks k
  WHERE k.created_at BETWEEN (SELECT min(w.order_key) FROM walked w)::timestamptz
                         AND (SELECT max(w.order_key) FROM walked w)::timestamptz
     OR k.created_at IS NULL
), due AS MATERIALIZED (
  SELECT w.token, w.order_key, w.order_token
  FROM walked w LEFT JOIN sched k ON k.session_token = w.token COLLATE "C"
  WHERE (true::boolean OR k.next_check_at IS NULL OR k.next_check_at <= :'cutoff'::timestamptz)
  AND (k.last_checked_at IS NULL OR k.last_checked_at < :'cutoff'::timestamptz)
), picked AS MATERIALIZED (
  SELECT d.* FROM due d ORDER BY d.order_key, d.order_token LIMIT 1000
), claimed AS (
  INSERT INTO claims (run_id, worker_id, expires_at, tokens, token_hashes)
  SELECT 1, 'w', now() + 600000000::bigint * interval '1 microsecond', '{NULL}'::text[],
         array_agg(hashtextextended(p.token COLLATE "C", 0))
  FROM picked p
  HAVING count(*) > 0
  RETURNING id
), last AS (
  SELECT x.key, x.token, (SELECT count(*) FROM walked) AS walked,
         (SELECT count(*) FROM due) AS due
  FROM ((SELECT p.order_key::text AS key, p.token, 1 AS rank FROM picked p
         WHERE (SELECT count(*) FROM picked) = 1000
         ORDER BY p.order_key DESC, p.order_token DESC LIMIT 1)
        UNION ALL
        (SELECT w.order_key::text, w.token, 2 FROM walked w
         ORDER BY w.order_key DESC, w.order_token DESC LIMIT 1)) x
  ORDER BY x.rank LIMIT 1
)
SELECT p.token, l.key, l.token, (SELECT id FROM claimed), l.walked, l.due
FROM last l LEFT JOIN picked p ON true
ORDER BY p.order_key, p.order_token \g /dev/null
\else
WITH walked AS MATERIALIZED (
  SELECT s."session_token"::text AS token, s."created_at" AS order_key, s."session_token" AS order_token
  FROM "public"."deposit_sessions" s
  WHERE s."state" = 'NEW'::text::text
  AND s."created_at" <= (now() - 0::bigint * interval '1 microsecond')::timestamp with time zone
  AND (NULL::text IS NULL OR s."created_at" >= NULL::text::timestamptz::timestamp with time zone)
  AND (NULL::text IS NULL OR s."created_at" < NULL::text::timestamptz::timestamp with time zone)
  AND (:key::text IS NULL
       OR (s."created_at", s."session_token") > (:key::text::timestamp with time zone, :tok::text::text))
    AND s."session_token"::text NOT IN (SELECT unnest(c.tokens) FROM claims c
                              WHERE :key::text IS NULL OR c.run_id <> 1)
  ORDER BY s."created_at", s."session_token"
  LIMIT :window::integer
), sched AS MATERIALIZED (
  SELECT k.session_token, k.next_check_at, k.last_checked_at
  FROM session_checks k
  WHERE k.created_at BETWEEN (SELECT min(w.order_key) FROM walked w)::timestamptz
                         AND (SELECT max(w.order_key) FROM walked w)::timestamptz
     OR k.created_at IS NULL
), due AS MATERIALIZED (
  SELECT w.token, w.order_key, w.order_token
  FROM walked w LEFT JOIN sched k ON k.session_token = w.token COLLATE "C"
  WHERE (true::boolean OR k.next_check_at IS NULL OR k.next_check_at <= :'cutoff'::timestamptz)
  AND (k.last_checked_at IS NULL OR k.last_checked_at < :'cutoff'::timestamptz)
), picked AS MATERIALIZED (
  SELECT d.* FROM due d ORDER BY d.order_key, d.order_token LIMIT 1000
), claimed AS (
  INSERT INTO claims (run_id, worker_id, expires_at, tokens)
  SELECT 1, 'w', now() + 600000000::bigint * interval '1 microsecond', array_agg(p.token)
  FROM picked p
  HAVING count(*) > 0
  RETURNING id
), last AS (
  SELECT x.key, x.token, (SELECT count(*) FROM walked) AS walked,
         (SELECT count(*) FROM due) AS due
  FROM ((SELECT p.order_key::text AS key, p.token, 1 AS rank FROM picked p
         WHERE (SELECT count(*) FROM picked) = 1000
         ORDER BY p.order_key DESC, p.order_token DESC LIMIT 1)
        UNION ALL
        (SELECT w.order_key::text, w.token, 2 FROM walked w
         ORDER BY w.order_key DESC, w.order_token DESC LIMIT 1)) x
  ORDER BY x.rank LIMIT 1
)
SELECT p.token, l.key, l.token, (SELECT id FROM claimed), l.walked, l.due
FROM last l LEFT JOIN picked p ON true
ORDER BY p.order_key, p.order_token \g /dev/null
\endif
DELETE FROM claims WHERE run_id = 1 AND id < (SELECT max(id) FROM claims WHERE run_id = 1);
COMMIT;
\endif
