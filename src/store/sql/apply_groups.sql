
terminal AS (
  SELECT *
  FROM unnest(${t0}::text[], ${t1}::bigint[], ${t2}::text[], ${t3}::text[], ${t4}::integer[],
              ${t5}::bigint[])
       AS t(token, claim_id, gateway_state, raw_answer, attempts, checked_at_us)
),
other AS (
  SELECT *
  FROM unnest(${o0}::text[], ${o1}::bigint[], ${o2}::text[], ${o3}::text[], ${o4}::integer[],
              ${o5}::integer[], ${o6}::text[], ${o7}::bigint[])
       AS o(token, claim_id, kind, gateway_state, http_status, attempts, error, checked_at_us)
),
