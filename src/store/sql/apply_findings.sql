
found AS (
  INSERT INTO findings
    (run_id, category, session_token, user_id, user_name, user_name_surname, user_email,
     previous_state, gateway_state, created_at, checked_at, attempts, error)
  SELECT ${run}::bigint, d.category, d.token, coalesce(d.user_id, ''), coalesce(d.user_name, ''),
         d.user_name_surname, d.user_email, coalesce(d.row_state, 'NEW'), d.gateway_state,
         d.created_at, d.checked_at, d.attempts, d.error
  FROM decided d WHERE d.category IS NOT NULL
  ON CONFLICT DO NOTHING
  RETURNING 1
)
