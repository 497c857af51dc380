NOT EXISTS (SELECT 1 FROM session_state_change_rows c WHERE c.session_token = s.{tok}::text AND c.source = 'reconciliation')
    AND NOT EXISTS (SELECT 1 FROM session_state_change_batches b CROSS JOIN LATERAL unnest(b.tokens) AS j(token)
                    WHERE j.token = s.{tok}::text{since})
