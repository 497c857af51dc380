UPDATE reconciler_runs SET status = 'abandoned', finished_at = now()
WHERE status = 'running' AND heartbeat_at < now() - $1::bigint * interval '1 microsecond'
RETURNING id
