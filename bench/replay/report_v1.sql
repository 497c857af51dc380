-- The report's read of run 1 as the finding reader sent it on 2026-12-01 (src/store/sql/findings_*.sql).
BEGIN;
DECLARE dr_findings NO SCROLL CURSOR FOR
SELECT array_position(ARRAY['anomaly', 'expired', 'failed', 'backfilled_completed', 'unchecked', 'stale'], category),
       (extract(epoch FROM created_at) * 1000000)::bigint, session_token, run_id, category, user_id,
       user_name, user_name_surname, user_email, previous_state, gateway_state,
       (extract(epoch FROM checked_at) * 1000000)::bigint, attempts,
       error, (extract(epoch FROM followed_up_at) * 1000000)::bigint, followed_up_by
FROM reconciler_findings WHERE run_id = 1
ORDER BY 1, 2, 3;
