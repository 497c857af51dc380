-- The job's apply (d9088bb) that also deletes the schedule rows of the sessions it resolved
-- (priced: a probe of session_checks per resolved session).
PREPARE apply_groups AS
WITH
terminal AS (
  SELECT *
  FROM unnest($8::text[], $9::bigint[], $10::text[], $11::text[], $12::integer[],
              $13::bigint[])
       AS t(token, claim_id, gateway_state, raw_answer, attempts, checked_at_us)
),
other AS (
  SELECT *
  FROM unnest($14::text[], $15::bigint[], $16::text[], $17::text[], $18::integer[],
              $19::integer[], $20::text[], $21::bigint[])
       AS o(token, claim_id, kind, gateway_state, http_status, attempts, error, checked_at_us)
),
live AS MATERIALIZED (
  SELECT c.id FROM claims c
  WHERE c.id IN (SELECT t.claim_id FROM terminal t UNION SELECT o.claim_id FROM other o)
    AND c.worker_id = $2::text
  FOR SHARE
),
held AS MATERIALIZED (
  SELECT t.* FROM terminal t WHERE t.claim_id IN (SELECT id FROM live)
),
marker AS MATERIALIZED (
  SELECT set_config('deposit_reconciler.run_id', $1::bigint::text, true) AS run_id
),
applied AS (
  UPDATE "public"."deposit_sessions" s
  SET "state" = (CASE h.gateway_state WHEN 'COMPLETED' THEN $5::text
                                   WHEN 'EXPIRED' THEN $6::text ELSE $7::text END)::text,
      "updated_at" = now()
  FROM held h, marker
  WHERE s."session_token" = h.token AND s."state" = $4::text::text
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
notified AS MATERIALIZED (
  SELECT pg_notify('deposit_session_state',
                   json_build_object('run_id', $1::bigint, 'changes', a.changes,
                                     'first_change_id', a.first_id,
                                     'last_change_id', a.last_id)::text)
  FROM audit a
),
counted AS (
  SELECT count(*) FILTER (WHERE gateway_state = 'COMPLETED') AS completed,
         count(*) FILTER (WHERE gateway_state = 'EXPIRED') AS expired,
         count(*) FILTER (WHERE gateway_state = 'FAILED') AS failed,
         count(*) AS applied
  FROM applied
),
-- Seventh session, priced: the schedule rows of the sessions this batch resolved, deleted (they
-- lengthen the claims' range scan over session_checks by creation time).
cleared AS (
  DELETE FROM session_checks k USING applied a WHERE k.session_token = a.token
  RETURNING 1
),
-- What the update did not settle: the other answers (still NEW, not checkable) and, only when
-- there are any, the terminal answers whose row was no longer NEW.
rest AS MATERIALIZED (
  SELECT r.*, (s."session_token" IS NOT NULL) AS present, CASE s."state"::text WHEN $4::text THEN 'NEW' WHEN $5::text THEN 'COMPLETED' WHEN $6::text THEN 'EXPIRED' WHEN $7::text THEN 'FAILED' END AS row_state,
         s."created_at"::timestamptz AS created_at, s."user_id"::text AS user_id, s."user_name"::text AS user_name, s."user_name_surname"::text AS user_name_surname, s."user_email"::text AS user_email,
         (SELECT k.stale_reported_at FROM session_checks k
          WHERE k.session_token = r.token) AS stale_reported_at,
         timestamptz 'epoch' + r.checked_at_us * interval '1 microsecond' AS checked_at
  FROM (
    SELECT o.token, o.kind, o.gateway_state, o.http_status, o.attempts, o.error, o.checked_at_us
    FROM other o WHERE o.claim_id IN (SELECT id FROM live)
    UNION ALL
    SELECT h.token, 'state', h.gateway_state, NULL::integer, h.attempts, NULL::text,
           h.checked_at_us
    FROM held h
    WHERE (SELECT applied FROM counted) < (SELECT count(*) FROM held)
      AND h.token NOT IN (SELECT a.token FROM applied a)
  ) r
  LEFT JOIN "public"."deposit_sessions" s ON s."session_token" = r.token
),
decided AS (
  SELECT r.*, o.outcome,
         CASE
           WHEN o.outcome = 'resolved' THEN
             CASE r.gateway_state WHEN 'COMPLETED' THEN 'backfilled_completed'
                                  WHEN 'EXPIRED' THEN 'expired' ELSE 'failed' END
           WHEN o.outcome IN ('unchecked', 'anomaly') THEN o.outcome
           WHEN o.outcome = 'still_new' AND r.stale_reported_at IS NULL
                AND r.created_at < now() - $3::bigint * interval '1 microsecond'
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
     last_error, stale_reported_at, created_at)
  SELECT d.token, now() + reconciler_recheck_delay(1), 1, now(), d.attempts, d.http_status,
         d.error, CASE WHEN d.category = 'stale' THEN now() END, d.created_at
  FROM decided d WHERE d.outcome IN ('still_new', 'unchecked')
  ON CONFLICT (session_token) DO UPDATE SET
    checks = k.checks + 1,
    next_check_at = now() + reconciler_recheck_delay(k.checks + 1),
    last_checked_at = now(),
    attempts = excluded.attempts,
    last_http_status = excluded.last_http_status,
    last_error = excluded.last_error,
    stale_reported_at = coalesce(k.stale_reported_at, excluded.stale_reported_at),
    created_at = excluded.created_at
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
)
-- The counts (one row: lease_lost counts answers not held — their claim is gone — or whose row is
-- gone; the raced ones are counted by the caller once it has read them again), then one row per
-- finding this batch wrote, with what the client does not know of it (app/run_report.h writes
-- the run's report from these): the resolved sessions' from `applied` (their audit rows;
-- category NULL), the others' from `decided` (their findings rows). Times as microseconds since
-- the epoch: date_part's float8 is several times cheaper than extract's numeric, and exact to
-- the microsecond from 1902 to 2100 (the rounding errors of its division and of the product stay
-- under half a microsecond there; checked against extract for every microsecond around both ends
-- and 5 million in between). Outside it (or infinite): NULL, which makes the run read its
-- findings back. A resolved session without a creation time shows the batch's time, now(), as
-- the view does.
SELECT (SELECT completed FROM counted), (SELECT expired FROM counted),
       (SELECT failed FROM counted),
       count(*) FILTER (WHERE outcome = 'still_new'),
       count(*) FILTER (WHERE category = 'stale'),
       count(*) FILTER (WHERE outcome = 'conflict'),
       count(*) FILTER (WHERE outcome = 'anomaly'),
       count(*) FILTER (WHERE outcome = 'unchecked'),
       (SELECT count(*) FROM terminal) + (SELECT count(*) FROM other)
         - (SELECT applied FROM counted) - count(*) FILTER (WHERE outcome <> 'gone'),
       coalesce(json_agg(token) FILTER (WHERE outcome = 'raced'), '[]')::text,
       (SELECT count(*) FROM notified),
       (date_part('epoch', now()) * 1000000)::bigint,
       NULL::text, NULL::text, NULL::text, NULL::bigint, NULL::text, NULL::text, NULL::text,
       NULL::text
FROM decided
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, a.token, NULL,
       NULL,
       CASE WHEN a.created_at IS NULL THEN (date_part('epoch', now()) * 1000000)::bigint
            WHEN a.created_at >= timestamptz '1902-01-01 UTC'
                 AND a.created_at < timestamptz '2100-01-01 UTC'
              THEN (date_part('epoch', a.created_at) * 1000000)::bigint END,
       a.user_id, a.user_name, a.user_name_surname, a.user_email
FROM applied a
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, d.token,
       d.category, d.row_state,
       CASE WHEN d.created_at >= timestamptz '1902-01-01 UTC'
                 AND d.created_at < timestamptz '2100-01-01 UTC'
              THEN (date_part('epoch', d.created_at) * 1000000)::bigint END,
       d.user_id, d.user_name, d.user_name_surname, d.user_email
FROM decided d
WHERE d.category IS NOT NULL;
