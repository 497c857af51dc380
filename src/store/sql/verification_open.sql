NOT EXISTS (
      SELECT 1 FROM verifications v WHERE v.session_token = {token}
        AND (v.outcome IS NOT NULL OR v.lease_expires_at > now() OR v.run_id = $1::bigint))
