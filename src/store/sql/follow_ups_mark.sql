INSERT INTO follow_ups (run_id, session_token, category, followed_up_by)
SELECT f.run_id, f.session_token, f.category, $2 FROM reconciler_findings f
WHERE f.followed_up_at IS NULL
  AND (f.run_id = $1 OR ($3::jsonb IS NOT NULL AND f.run_id < $1))
  AND ($3::jsonb IS NULL
       OR f.session_token IN (SELECT jsonb_array_elements_text($3::jsonb)))
  AND ($4::text IS NULL OR f.category = $4::text)
ON CONFLICT DO NOTHING
