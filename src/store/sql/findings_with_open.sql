SELECT {columns}
FROM (
  SELECT DISTINCT ON (f.session_token, f.category) f.*
  FROM reconciler_findings f
  WHERE f.run_id = {run} OR (f.run_id < {run} AND f.followed_up_at IS NULL)
  ORDER BY f.session_token, f.category, f.run_id DESC
) f
ORDER BY {order}
