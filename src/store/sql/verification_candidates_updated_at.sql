candidates AS (
  SELECT s.{tok}::text AS token, {name} AS notified_state,
         s.{upd}::timestamptz AS notified_at
  FROM {table} s
  WHERE {terminal} AND s.{upd} >= now() - $3::bigint * interval '1 microsecond'
    AND {by_other}
    AND {open}
  ORDER BY 3, 1
  LIMIT $5::integer
)
