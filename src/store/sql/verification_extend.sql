UPDATE verifications SET lease_expires_at = now() + $3::bigint * interval '1 microsecond' WHERE run_id = $1 AND worker_id = $2 AND outcome IS NULL
