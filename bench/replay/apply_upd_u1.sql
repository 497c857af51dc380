-- Seventh session, the guarded update isolated: u0 + updated_at = now().
-- Not exact (no audit row, no schedule, no findings): prices a piece.
PREPARE apply_groups AS
WITH applied AS (
  UPDATE "public"."deposit_sessions" s SET "state" = u.state, "updated_at" = now()
  FROM unnest($8::text[], $10::text[]) AS u(token, state)
  WHERE s."session_token" = u.token AND s."state" = 'NEW'
  RETURNING 1
)
SELECT count(*), $1::bigint, $2::text, $3::bigint, $4::text, $5::text, $6::text, $7::text,
       cardinality($9::bigint[]), cardinality($10::text[]), cardinality($11::text[]),
       cardinality($12::integer[]), cardinality($13::bigint[]), cardinality($14::text[]),
       cardinality($15::bigint[]), cardinality($16::text[]), cardinality($17::text[]),
       cardinality($18::integer[]), cardinality($19::integer[]), cardinality($20::text[]),
       cardinality($21::bigint[]), cardinality($8::text[])
FROM applied;
