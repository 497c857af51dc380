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
  RETURNING 1
)
SELECT count(*), $1::bigint, $2::text, $4::bigint FROM applied;
