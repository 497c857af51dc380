WITH input AS (
  SELECT *
  FROM unnest($3::text[], $4::text[], $5::text[], $6::integer[], $7::integer[], $8::text[],
              $9::bigint[])
       AS i(token, kind, gateway_state, http_status, attempts, error, checked_at_us)
),
mine AS MATERIALIZED (
  SELECT i.*, v.notified_state, v.notified_at, v.notified_basis,
         timestamptz 'epoch' + i.checked_at_us * interval '1 microsecond' AS checked_at,
         CASE WHEN i.kind = 'state' AND i.gateway_state = v.notified_state THEN 'agree'
              WHEN i.kind IN ('state', 'not_found') THEN 'anomaly' END AS outcome
  FROM input i
  JOIN verifications v ON v.session_token = i.token
  WHERE v.run_id = $1::bigint AND v.worker_id = $2::text
),
verified AS (
  UPDATE verifications v
  SET outcome = m.outcome, gateway_state = CASE WHEN m.kind = 'state' THEN m.gateway_state END,
      http_status = m.http_status, verified_at = m.checked_at, lease_expires_at = NULL
  FROM mine m
  WHERE v.session_token = m.token AND m.outcome IS NOT NULL
  RETURNING 1
),
found AS (
  INSERT INTO findings
    (run_id, category, session_token, user_id, user_name, user_name_surname, user_email,
     previous_state, gateway_state, created_at, checked_at, attempts, error)
  SELECT $1::bigint, coalesce(m.outcome, 'unchecked'), m.token, coalesce({uid}, ''),
         coalesce({uname}, ''), {usurname}, {uemail}, m.notified_state,
         CASE WHEN m.kind = 'state' THEN m.gateway_state END,
         coalesce(s.{cr}::timestamptz, m.notified_at), m.checked_at, coalesce(m.attempts, 0),
         format('%s %s at %s; %s', m.notified_state,
                CASE m.notified_basis
                  WHEN 'audit_trail' THEN 'written by a notification'
                  WHEN 'updated_at' THEN 'written by someone else than the job (updated-at column)'
                  ELSE 'written by someone else than the job, first seen' END,
                to_char(m.notified_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                CASE WHEN m.outcome IS NULL
                       THEN 'could not be verified: ' || coalesce(m.error, 'no answer')
                     WHEN m.kind = 'not_found'
                       THEN 'the gateway does not know the session (HTTP 404)'
                     ELSE 'the gateway says ' || m.gateway_state END)
  FROM mine m
  LEFT JOIN {table} s ON s.{tok} = m.token::{tok_type}
  WHERE m.outcome IS DISTINCT FROM 'agree'
  ON CONFLICT DO NOTHING
  RETURNING 1
)
SELECT count(*) FILTER (WHERE outcome = 'agree'),
       count(*) FILTER (WHERE outcome = 'anomaly'),
       count(*) FILTER (WHERE outcome IS NULL),
       (SELECT count(*) FROM input) - count(*),
       (SELECT count(*) FROM verified) + (SELECT count(*) FROM found)
FROM mine
