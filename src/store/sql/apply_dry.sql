WITH{groups}
input AS (
  SELECT t.token, t.claim_id, 'state' AS kind, t.gateway_state, NULL::integer AS http_status,
         t.attempts, NULL::text AS error, t.checked_at_us
  FROM terminal t
  UNION ALL
  SELECT o.token, o.claim_id, o.kind, o.gateway_state, o.http_status, o.attempts, o.error,
         o.checked_at_us
  FROM other o
),
rest AS MATERIALIZED (
  SELECT i.*, (s.{tok} IS NOT NULL) AS present, {canon} AS row_state,
         s.{cr}::timestamptz AS created_at, {person_s}, k.stale_reported_at,
         timestamptz 'epoch' + i.checked_at_us * interval '1 microsecond' AS checked_at
  FROM input i
  LEFT JOIN {table} s ON s.{tok} = i.token
  LEFT JOIN session_checks k ON k.session_token = i.token
),{decided}{found}
SELECT count(*) FILTER (WHERE outcome = 'resolved' AND gateway_state = 'COMPLETED'),
       count(*) FILTER (WHERE outcome = 'resolved' AND gateway_state = 'EXPIRED'),
       count(*) FILTER (WHERE outcome = 'resolved' AND gateway_state = 'FAILED'),
       count(*) FILTER (WHERE outcome = 'still_new'),
       count(*) FILTER (WHERE category = 'stale'),
       count(*) FILTER (WHERE outcome = 'conflict'),
       count(*) FILTER (WHERE outcome = 'anomaly'),
       count(*) FILTER (WHERE outcome = 'unchecked'),
       (SELECT count(*) FROM input) - count(*) FILTER (WHERE outcome <> 'gone'),
       '[]',
       0
FROM decided
