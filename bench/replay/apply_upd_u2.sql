-- Seventh session, the guarded update isolated: u1 + the six arrays of the terminal group, the mapped values as parameters.
-- Not exact (no audit row, no schedule, no findings): prices a piece.
PREPARE apply_groups AS
WITH
terminal AS (
  SELECT *
  FROM unnest($8::text[], $9::bigint[], $10::text[], $11::text[], $12::integer[],
              $13::bigint[])
       AS t(token, claim_id, gateway_state, raw_answer, attempts, checked_at_us)
),
applied AS (
  UPDATE "public"."deposit_sessions" s
  SET "state" = (CASE h.gateway_state WHEN 'COMPLETED' THEN $5::text
                                   WHEN 'EXPIRED' THEN $6::text ELSE $7::text END)::text,
      "updated_at" = now()
  FROM terminal h
  WHERE s."session_token" = h.token AND s."state" = $4::text::text
  RETURNING 1
)
SELECT count(*), $1::bigint, $2::text, $3::bigint, $4::text, $5::text, $6::text, $7::text,
       cardinality($9::bigint[]), cardinality($10::text[]), cardinality($11::text[]),
       cardinality($12::integer[]), cardinality($13::bigint[]), cardinality($14::text[]),
       cardinality($15::bigint[]), cardinality($16::text[]), cardinality($17::text[]),
       cardinality($18::integer[]), cardinality($19::integer[]), cardinality($20::text[]),
       cardinality($21::bigint[]), cardinality($8::text[])
FROM applied;
