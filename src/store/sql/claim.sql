WITH walked AS MATERIALIZED (
  -- The window: the next $14 sessions of the run's walk, in (created_at, token) order, that no
  -- live claim holds ($14 is sized by the store from the share of the run's last window that was
  -- due: an eighth more than $11 where everything is due; each session walked costs about what
  -- the probe it replaces did, so the window is kept close to what the claim takes). Candidates lie after this run's position in the walk ($9, $10), and the
  -- claims this store made for the run ($13) all end at or before it: their lists are not
  -- unpacked. Without a position (a walk's first claim), every live claim is tested.
  SELECT s.{tok}::text AS token, s.{cr} AS order_key, s.{tok} AS order_token
  FROM {table} s
  WHERE {where}{keyset}
    AND s.{tok}::text NOT IN (SELECT unnest(c.tokens) FROM claims c
                              WHERE $9::text IS NULL OR c.id <> ALL ($13::bigint[]))
  ORDER BY s.{cr}, s.{tok}
  LIMIT $14::integer
), sched AS MATERIALIZED (
  -- The schedule rows of the window: one range scan of session_checks_created_at_idx (0009)
  -- instead of a probe of session_checks' primary key per candidate, plus every row without a
  -- creation time (written before 0009 and not yet dated by `migrate`).
  SELECT k.session_token, k.next_check_at, k.last_checked_at
  FROM session_checks k
  WHERE k.created_at BETWEEN (SELECT min(w.order_key) FROM walked w)::timestamptz
                         AND (SELECT max(w.order_key) FROM walked w)::timestamptz
     OR k.created_at IS NULL
), due AS MATERIALIZED (
  -- The window's sessions that are due, joined to their schedule rows by hash.
  SELECT w.token, w.order_key, w.order_token
  FROM walked w LEFT JOIN sched k ON k.session_token = w.token COLLATE "C"
  WHERE {due}
), picked AS MATERIALIZED (
  SELECT d.* FROM due d ORDER BY d.order_key, d.order_token LIMIT $11::integer
), claimed AS (
  INSERT INTO claims (run_id, worker_id, expires_at, tokens)
  SELECT $1::bigint, $2::text, now() + $12::bigint * interval '1 microsecond', array_agg(p.token)
  FROM picked p
  HAVING count(*) > 0
  RETURNING id
), last AS (
  -- The run's new position: the last session taken when the claim is full, else the window's
  -- end (what the window passed and did not take was not due, checked since the cut-off, or
  -- held by a claim); how many the window walked (under $14: the walk is at its end) and how
  -- many of them were due.
  SELECT x.key, x.token, (SELECT count(*) FROM walked) AS walked,
         (SELECT count(*) FROM due) AS due
  FROM ((SELECT p.order_key::text AS key, p.token, 1 AS rank FROM picked p
         WHERE (SELECT count(*) FROM picked) = $11::integer
         ORDER BY p.order_key DESC, p.order_token DESC LIMIT 1)
        UNION ALL
        (SELECT w.order_key::text, w.token, 2 FROM walked w
         ORDER BY w.order_key DESC, w.order_token DESC LIMIT 1)) x
  ORDER BY x.rank LIMIT 1
)
-- One row per claimed session, in walk order; one row with a NULL token when the window took
-- none; no row when the walk is at its end.
SELECT p.token, l.key, l.token, (SELECT id FROM claimed), l.walked, l.due
FROM last l LEFT JOIN picked p ON true
ORDER BY p.order_key, p.order_token
