WITH me AS (
  INSERT INTO fleet_workers AS w (budget_id, worker_id, heartbeat_at, sent_rate, cuts, cut_rate)
  VALUES ($1, $2, now(), $3, $4, $5)
  ON CONFLICT (budget_id, worker_id) DO UPDATE
    SET heartbeat_at = now(), sent_rate = excluded.sent_rate, cuts = excluded.cuts,
        cut_rate = excluded.cut_rate
), found AS (
  INSERT INTO fleet_budgets AS b (budget_id, found_rate, found_at)
  SELECT $1, $6::float8, now() WHERE $6::float8 > 0
  ON CONFLICT (budget_id) DO UPDATE SET found_rate = excluded.found_rate, found_at = now()
), gone AS (
  DELETE FROM fleet_workers
   WHERE budget_id = $1 AND worker_id <> $2 AND heartbeat_at < now() - interval '10 minutes'
)
SELECT worker_id, sent_rate, cuts, cut_rate, NULL::float8
  FROM fleet_workers
 WHERE budget_id = $1 AND worker_id <> $2 AND heartbeat_at > now() - make_interval(secs => $7)
UNION ALL
SELECT NULL, NULL, NULL, NULL, found_rate FROM fleet_budgets WHERE budget_id = $1
