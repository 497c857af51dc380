BEGIN;
SET LOCAL jit = off;
SET LOCAL work_mem = '64MB';
DECLARE dr_findings NO SCROLL CURSOR FOR
SELECT x.* FROM (
SELECT array_position(ARRAY['anomaly', 'expired', 'failed', 'backfilled_completed', 'unchecked', 'stale'], f.category),
       (extract(epoch FROM f.created_at) * 1000000)::bigint, f.session_token, f.run_id, f.category, f.user_id,
       f.user_name, f.user_name_surname, f.user_email, f.previous_state, f.gateway_state,
       (extract(epoch FROM f.checked_at) * 1000000)::bigint, f.attempts,
       f.error, (extract(epoch FROM u.followed_up_at) * 1000000)::bigint, u.followed_up_by
FROM findings f LEFT JOIN follow_ups u USING (run_id, session_token, category)
WHERE f.run_id = 1
UNION ALL
SELECT array_position(ARRAY['anomaly', 'expired', 'failed', 'backfilled_completed', 'unchecked', 'stale'], k.category),
       (extract(epoch FROM coalesce(c.created_at, c.changed_at)) * 1000000)::bigint, c.session_token, c.run_id, k.category,
       coalesce(c.user_id, ''), coalesce(c.user_name, ''), c.user_name_surname, c.user_email, c.old_state, c.new_state,
       (extract(epoch FROM c.changed_at) * 1000000)::bigint, coalesce(c.attempts, 0),
       NULL, (extract(epoch FROM u.followed_up_at) * 1000000)::bigint, u.followed_up_by
FROM session_state_changes c
CROSS JOIN LATERAL (SELECT CASE c.new_state WHEN 'COMPLETED' THEN 'backfilled_completed'
                            WHEN 'EXPIRED' THEN 'expired' ELSE 'failed' END AS category) k
LEFT JOIN follow_ups u ON u.run_id = c.run_id AND u.session_token = c.session_token AND u.category = k.category
WHERE c.run_id = 1 AND c.source = 'reconciliation'
  AND (c.created_at IS NOT NULL
       OR NOT EXISTS (SELECT 1 FROM findings f2
                      WHERE f2.run_id = c.run_id AND f2.session_token = c.session_token
                        AND f2.category IN ('backfilled_completed', 'expired', 'failed')))
) x
ORDER BY 1, 2, 3;
