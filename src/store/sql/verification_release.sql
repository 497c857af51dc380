DELETE FROM verifications WHERE run_id = $1 AND worker_id = $2 AND outcome IS NULL
