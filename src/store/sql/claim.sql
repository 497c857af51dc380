WITH picked AS (
  SELECT s.{tok}::text AS token, coalesce(k.checks, 0) AS checks,
         s.{cr} AS order_key, s.{tok} AS order_token
  FROM {table} s LEFT JOIN session_checks k ON k.session_token = s.{tok}::text COLLATE "C"
  WHERE {where}{keyset}
    -- Not in a live claim. Candidates lie after this run's position in the walk ($9, $10), and
    -- the claims this store made for the run ($13) all end at or before it: their lists are not
    -- unpacked. Without a position (a walk's first claim), every live claim is tested.
    AND s.{tok}::text NOT IN (SELECT unnest(c.tokens) FROM claims c
                              WHERE $9::text IS NULL OR c.id <> ALL ($13::bigint[]))
  ORDER BY s.{cr}, s.{tok}
  LIMIT $11::integer
), claimed AS (
  INSERT INTO claims (run_id, worker_id, expires_at, tokens)
  SELECT $1::bigint, $2::text, now() + $12::bigint * interval '1 microsecond', array_agg(p.token)
  FROM picked p
  HAVING count(*) > 0
  RETURNING id
), last AS (
  SELECT p.order_key::text AS key, p.token
  FROM picked p ORDER BY p.order_key DESC, p.order_token DESC LIMIT 1
)
SELECT p.token, p.checks, (SELECT key FROM last), (SELECT token FROM last), (SELECT id FROM claimed)
FROM picked p
