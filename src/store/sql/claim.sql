WITH picked AS (
  SELECT s.{tok}::text AS token, coalesce(k.checks, 0) AS checks,
         s.{cr} AS order_key, s.{tok} AS order_token
  FROM {table} s LEFT JOIN session_checks k ON k.session_token = s.{tok}::text
  WHERE {where}{keyset}
    AND s.{tok}::text NOT IN (SELECT unnest(c.tokens) FROM claims c)
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
