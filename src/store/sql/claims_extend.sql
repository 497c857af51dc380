UPDATE claims SET expires_at = now() + $2::bigint * interval '1 microsecond'
WHERE worker_id = $1
