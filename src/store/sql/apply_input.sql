
input AS (
  SELECT *
  FROM unnest(${batch}::text[], ${c1}::bigint[], ${c2}::text[], ${c3}::text[],
              ${c4}::integer[], ${c5}::integer[], ${c6}::text[], ${c7}::text[],
              ${c8}::bigint[])
       AS i(token, claim_id, kind, gateway_state, http_status, attempts, error, raw_answer,
            checked_at_us)
),
