WITH baseline AS (
  INSERT INTO sighting_baselines (sessions_table) VALUES ($1::text)
  ON CONFLICT DO NOTHING
  RETURNING 1
)
INSERT INTO terminal_sightings (session_token, first_seen_at, at_baseline)
SELECT s.{tok}::text, now(), EXISTS (SELECT 1 FROM baseline)
FROM {table} s
WHERE {terminal}
  AND NOT EXISTS (SELECT 1 FROM terminal_sightings t WHERE t.session_token = s.{tok}::text)
  AND {by_other}
ON CONFLICT DO NOTHING
