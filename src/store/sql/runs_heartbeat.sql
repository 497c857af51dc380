UPDATE reconciler_runs SET heartbeat_at = now(), counts = $2::jsonb WHERE id = $1
