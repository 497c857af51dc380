-- Update + one audit row per batch, one sequence value per batch (to price nextval per change).
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
applied AS (
  UPDATE "public"."deposit_sessions" s
  SET "state" = (CASE h.gateway_state WHEN 'COMPLETED' THEN $6::text
                                   WHEN 'EXPIRED' THEN $7::text ELSE $8::text END)::text,
      "updated_at" = now()
  FROM input h
  WHERE s."session_token" = h.token AND h.kind = 'state'
    AND h.gateway_state IN ('COMPLETED', 'EXPIRED', 'FAILED')
    AND s."state" = $5::text::text
  RETURNING h.token, h.gateway_state, h.raw_answer, h.attempts, s."created_at"::timestamptz AS created_at,
            s."user_id"::text AS user_id, s."user_name"::text AS user_name, s."user_name_surname"::text AS user_name_surname, s."user_email"::text AS user_email
),
audit AS (
  INSERT INTO state_change_batches
    (ids, run_id, tokens, new_states, gateway_answers, user_ids, user_names, user_name_surnames,
     user_emails, created_ats, attempts)
  SELECT ARRAY[nextval('session_state_changes_id_seq')], $1::bigint, array_agg(a.token),
         array_agg(a.gateway_state), array_agg(a.raw_answer), array_agg(a.user_id),
         array_agg(a.user_name), array_agg(a.user_name_surname), array_agg(a.user_email),
         array_agg(a.created_at), array_agg(a.attempts)
  FROM applied a
  HAVING count(*) > 0
  RETURNING ids[1] AS first_id, ids[cardinality(ids)] AS last_id, cardinality(ids) AS n
)
SELECT (SELECT n FROM audit), $2::text, $4::bigint;
