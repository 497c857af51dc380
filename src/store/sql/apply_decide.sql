
decided AS (
  SELECT r.*, o.outcome,
         CASE
           WHEN o.outcome = 'resolved' THEN
             CASE r.gateway_state WHEN 'COMPLETED' THEN 'backfilled_completed'
                                  WHEN 'EXPIRED' THEN 'expired' ELSE 'failed' END
           WHEN o.outcome IN ('unchecked', 'anomaly') THEN o.outcome
           WHEN o.outcome = 'still_new' AND r.stale_reported_at IS NULL
                AND r.created_at < now() - ${stale}::bigint * interval '1 microsecond'
             THEN 'stale'
         END AS category
  FROM rest r
  CROSS JOIN LATERAL (SELECT CASE
      WHEN NOT r.present THEN 'gone'
      WHEN r.row_state IS DISTINCT FROM 'NEW' THEN
        -- The gateway still saying NEW about a row a notification resolved is an older view,
        -- not a disagreement; a different terminal state is. A value the mapping does not know
        -- is the merchant's business: a conflict.
        CASE WHEN r.kind = 'state' AND r.row_state IS NOT NULL AND r.gateway_state <> 'NEW'
                  AND r.gateway_state <> r.row_state
             THEN 'anomaly' ELSE 'conflict' END
      WHEN r.kind <> 'state' THEN 'unchecked'
      WHEN r.gateway_state = 'NEW' THEN 'still_new'
      ELSE {unresolved_terminal}
    END AS outcome) o
),
