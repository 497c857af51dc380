latest AS (
  SELECT DISTINCT ON (c.session_token) c.session_token AS token, c.new_state, c.changed_at
  FROM session_state_change_rows c
  WHERE c.changed_at >= now() - $3::bigint * interval '1 microsecond' AND c.source = 'notification'
  ORDER BY c.session_token, c.id DESC
),
candidates AS (
  SELECT l.token, l.new_state AS notified_state, l.changed_at AS notified_at
  FROM latest l
  JOIN {table} s ON s.{tok} = l.token::{tok_type}
  WHERE l.new_state IN ('COMPLETED', 'EXPIRED', 'FAILED')
    AND {name} = l.new_state
    AND {open}
  ORDER BY l.changed_at, l.token
  LIMIT $5::integer
)
