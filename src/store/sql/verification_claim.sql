WITH
{candidates},
claimed AS (
  INSERT INTO verifications AS v
    (session_token, notified_state, notified_at, notified_basis, run_id, worker_id,
     lease_expires_at)
  SELECT c.token, c.notified_state, c.notified_at, $9::text, $1::bigint, $2::text,
         now() + $4::bigint * interval '1 microsecond'
  FROM candidates c
  ON CONFLICT (session_token) DO UPDATE SET
    notified_state = excluded.notified_state, notified_at = excluded.notified_at,
    notified_basis = excluded.notified_basis, run_id = excluded.run_id,
    worker_id = excluded.worker_id, lease_expires_at = excluded.lease_expires_at
  WHERE v.outcome IS NULL AND v.run_id <> excluded.run_id
    AND (v.lease_expires_at IS NULL OR v.lease_expires_at <= now())
  RETURNING v.session_token, v.notified_state,
            (extract(epoch FROM v.notified_at) * 1000000)::bigint AS notified_at_us
)
SELECT * FROM claimed ORDER BY notified_at_us, session_token
