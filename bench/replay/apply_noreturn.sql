-- The apply as it was before the sixth session's report change (main at ecb42f5): counts only,
-- no findings returned. Against `apply` (the binary's, which returns them) it prices the return.
PREPARE apply AS
WITH
input AS (
  SELECT *
  FROM unnest($3::text[], $9::bigint[], $10::text[], $11::text[],
              $12::integer[], $13::integer[], $14::text[], $15::text[],
              $16::bigint[])
       AS i(token, claim_id, kind, gateway_state, http_status, attempts, error, raw_answer,
            checked_at_us)
),
live AS MATERIALIZED (
  SELECT c.id FROM claims c
  WHERE c.id IN (SELECT DISTINCT i.claim_id FROM input i) AND c.worker_id = $2::text
  FOR SHARE
),
held AS MATERIALIZED (
  SELECT i.* FROM input i WHERE i.claim_id IN (SELECT id FROM live)
),
marker AS MATERIALIZED (
  SELECT set_config('deposit_reconciler.run_id', $1::bigint::text, true) AS run_id
),
applied AS (
  UPDATE "public"."deposit_sessions" s
  SET "state" = (CASE h.gateway_state WHEN 'COMPLETED' THEN $6::text
                                   WHEN 'EXPIRED' THEN $7::text ELSE $8::text END)::text,
      "updated_at" = now()
  FROM held h, marker
  WHERE s."session_token" = h.token AND h.kind = 'state'
    AND h.gateway_state IN ('COMPLETED', 'EXPIRED', 'FAILED')
    AND s."state" = $5::text::text
  RETURNING h.token, h.gateway_state, h.raw_answer, h.attempts, s."created_at"::timestamptz AS created_at,
            s."user_id"::text AS user_id, s."user_name"::text AS user_name, s."user_name_surname"::text AS user_name_surname, s."user_email"::text AS user_email
),
audit AS (
  -- One audit row per batch (0007): the changes as arrays, an id per change from the sequence.
  INSERT INTO session_state_change_batches
    (ids, run_id, tokens, new_states, gateway_answers, user_ids, user_names, user_name_surnames,
     user_emails, created_ats, attempts)
  SELECT array_agg(nextval('session_state_changes_id_seq')), $1::bigint, array_agg(a.token),
         array_agg(a.gateway_state), array_agg(a.raw_answer), array_agg(a.user_id),
         array_agg(a.user_name), array_agg(a.user_name_surname), array_agg(a.user_email),
         array_agg(a.created_at), array_agg(a.attempts)
  FROM applied a
  HAVING count(*) > 0
  RETURNING cardinality(ids) AS changes, first_id, last_id
),
rest AS MATERIALIZED (
  SELECT h.*, (s."session_token" IS NOT NULL) AS present, CASE s."state"::text WHEN $5::text THEN 'NEW' WHEN $6::text THEN 'COMPLETED' WHEN $7::text THEN 'EXPIRED' WHEN $8::text THEN 'FAILED' END AS row_state,
         s."created_at"::timestamptz AS created_at, s."user_id"::text AS user_id, s."user_name"::text AS user_name, s."user_name_surname"::text AS user_name_surname, s."user_email"::text AS user_email,
         (SELECT k.stale_reported_at FROM session_checks k
          WHERE k.session_token = h.token) AS stale_reported_at,
         timestamptz 'epoch' + h.checked_at_us * interval '1 microsecond' AS checked_at
  FROM held h
  LEFT JOIN "public"."deposit_sessions" s ON s."session_token" = h.token
  WHERE h.token NOT IN (SELECT a.token FROM applied a)
),
decided AS (
  SELECT r.*, o.outcome,
         CASE
           WHEN o.outcome = 'resolved' THEN
             CASE r.gateway_state WHEN 'COMPLETED' THEN 'backfilled_completed'
                                  WHEN 'EXPIRED' THEN 'expired' ELSE 'failed' END
           WHEN o.outcome IN ('unchecked', 'anomaly') THEN o.outcome
           WHEN o.outcome = 'still_new' AND r.stale_reported_at IS NULL
                AND r.created_at < now() - $4::bigint * interval '1 microsecond'
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
      ELSE 'raced'
    END AS outcome) o
),
sched AS (
  INSERT INTO session_checks AS k
    (session_token, next_check_at, checks, last_checked_at, attempts, last_http_status,
     last_error, stale_reported_at)
  SELECT d.token, now() + reconciler_recheck_delay(1), 1, now(), d.attempts, d.http_status,
         d.error, CASE WHEN d.category = 'stale' THEN now() END
  FROM decided d WHERE d.outcome IN ('still_new', 'unchecked')
  ON CONFLICT (session_token) DO UPDATE SET
    checks = k.checks + 1,
    next_check_at = now() + reconciler_recheck_delay(k.checks + 1),
    last_checked_at = now(),
    attempts = excluded.attempts,
    last_http_status = excluded.last_http_status,
    last_error = excluded.last_error,
    stale_reported_at = coalesce(k.stale_reported_at, excluded.stale_reported_at)
  RETURNING 1
),
found AS (
  INSERT INTO findings
    (run_id, category, session_token, user_id, user_name, user_name_surname, user_email,
     previous_state, gateway_state, created_at, checked_at, attempts, error)
  SELECT $1::bigint, d.category, d.token, coalesce(d.user_id, ''), coalesce(d.user_name, ''),
         d.user_name_surname, d.user_email, coalesce(d.row_state, 'NEW'), d.gateway_state,
         d.created_at, d.checked_at, d.attempts, d.error
  FROM decided d WHERE d.category IS NOT NULL
  ON CONFLICT DO NOTHING
  RETURNING 1
),
notified AS MATERIALIZED (
  SELECT pg_notify('deposit_session_state',
                   json_build_object('run_id', $1::bigint, 'changes', a.changes,
                                     'first_change_id', a.first_id,
                                     'last_change_id', a.last_id)::text)
  FROM audit a
)
SELECT (SELECT count(*) FROM applied WHERE gateway_state = 'COMPLETED'),
       (SELECT count(*) FROM applied WHERE gateway_state = 'EXPIRED'),
       (SELECT count(*) FROM applied WHERE gateway_state = 'FAILED'),
       count(*) FILTER (WHERE outcome = 'still_new'),
       count(*) FILTER (WHERE category = 'stale'),
       count(*) FILTER (WHERE outcome = 'conflict'),
       count(*) FILTER (WHERE outcome = 'anomaly'),
       count(*) FILTER (WHERE outcome = 'unchecked'),
       (SELECT count(*) FROM input) - (SELECT count(*) FROM applied)
         - count(*) FILTER (WHERE outcome NOT IN ('gone', 'raced')),
       coalesce(json_agg(token) FILTER (WHERE outcome = 'raced'), '[]')::text,
       (SELECT count(*) FROM notified)
FROM decided
;
