PREPARE apply AS
WITH
input AS (
  SELECT * FROM unnest($3::text[], $11::text[]) AS i(token, gateway_state)
),
applied AS (
  UPDATE "public"."deposit_sessions" s
  SET "state" = (CASE h.gateway_state WHEN 'COMPLETED' THEN $6::text
                                   WHEN 'EXPIRED' THEN $7::text ELSE $8::text END)::text,
      "updated_at" = now()
  FROM input h
  WHERE s."session_token" = h.token
    AND h.gateway_state IN ('COMPLETED', 'EXPIRED', 'FAILED')
    AND s."state" = $5::text::text
  RETURNING 1
)
SELECT count(*), $1::bigint, $2::text, $4::bigint, $9::bigint[], $10::text[], $12::int[], $13::int[], $14::text[], $15::text[], $16::bigint[] FROM applied;
