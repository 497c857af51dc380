-- The answers terminal at the gateway alone (split apply, no second statement): the lease check,
-- the guarded update, its audit row per batch, NOTIFY and counts, fed five arrays (token, claim,
-- state, raw answer, attempts). Prices what a batch of terminal answers costs on its own.
PREPARE apply_terminal AS
WITH
input AS (
  SELECT * FROM unnest($3::text[], $4::bigint[], $9::text[], $10::text[], $11::integer[])
       AS i(token, claim_id, gateway_state, raw_answer, attempts)
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
  WHERE s."session_token" = h.token AND s."state" = $5::text::text
  RETURNING h.token, h.gateway_state, h.raw_answer, h.attempts, s."created_at"::timestamptz AS created_at,
            s."user_id"::text AS user_id, s."user_name"::text AS user_name, s."user_name_surname"::text AS user_name_surname, s."user_email"::text AS user_email
),
audit AS (
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
)
SELECT count(*) FILTER (WHERE gateway_state = 'COMPLETED'),
       count(*) FILTER (WHERE gateway_state = 'EXPIRED'),
       count(*) FILTER (WHERE gateway_state = 'FAILED'),
       (SELECT count(*) FROM input) - (SELECT count(*) FROM held),
       CASE WHEN count(*) < (SELECT count(*) FROM held) THEN
         (SELECT json_agg(h.token) FROM held h WHERE h.token NOT IN (SELECT a.token FROM applied a))
       END::text,
       (SELECT count(*) FROM notified)
FROM applied;
