candidates AS (
  SELECT t.session_token AS token, {name} AS notified_state, t.first_seen_at AS notified_at
  FROM terminal_sightings t
  JOIN {table} s ON s.{tok} = t.session_token::{tok_type}
  WHERE NOT t.at_baseline AND t.first_seen_at >= now() - $3::bigint * interval '1 microsecond' AND {terminal}
    AND {open}
  ORDER BY t.first_seen_at, t.session_token
  LIMIT $5::integer
)
