INSERT INTO reconciler_runs (worker_id, dry_run, options) VALUES ($1, $2, $3::jsonb)
RETURNING id, started_at::text
