NOT EXISTS (SELECT 1 FROM session_state_changes c WHERE c.session_token = s.{tok}::text AND c.source = 'reconciliation')
