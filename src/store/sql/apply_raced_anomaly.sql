INSERT INTO findings (run_id, category, session_token, user_id, user_name,
  user_name_surname, user_email, previous_state, gateway_state, created_at,
  checked_at, attempts)
VALUES ($1, 'anomaly', $2, coalesce($3, ''), coalesce($4, ''), $5, $6, $7, $8,
  $9::timestamptz, timestamptz 'epoch' + $10::bigint * interval '1 microsecond', $11)
ON CONFLICT DO NOTHING
