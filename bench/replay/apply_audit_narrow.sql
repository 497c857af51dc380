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
  RETURNING h.token, h.gateway_state
),
audit AS (
  INSERT INTO session_state_changes
    (session_token, old_state, new_state, source, run_id)
  SELECT a.token, 'NEW', a.gateway_state, 'reconciliation', $1::bigint
  FROM applied a
  RETURNING id
)
SELECT count(*), $2::text, $4::bigint FROM audit;
