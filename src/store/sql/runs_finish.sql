UPDATE reconciler_runs
SET status = $2, finished_at = now(), heartbeat_at = now(), counts = $3::jsonb
WHERE id = $1
