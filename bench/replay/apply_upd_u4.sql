-- Seventh session, the guarded update isolated: u3 + the job's RETURNING (the audit row's and findings' fields): the job's update alone.
-- Not exact (no audit row, no schedule, no findings): prices a piece.
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
)
SELECT count(*), $1::bigint, $2::text, $3::bigint, $4::text, $5::text, $6::text, $7::text,
       cardinality($9::bigint[]), cardinality($10::text[]), cardinality($11::text[]),
       cardinality($12::integer[]), cardinality($13::bigint[]), cardinality($14::text[]),
       cardinality($15::bigint[]), cardinality($16::text[]), cardinality($17::text[]),
       cardinality($18::integer[]), cardinality($19::integer[]), cardinality($20::text[]),
       cardinality($21::bigint[]), cardinality($8::text[])
FROM applied;
