SELECT s.{tok}::text, s.{cr}::text
FROM {table} s LEFT JOIN session_checks k ON k.session_token = s.{tok}::text COLLATE "C"
WHERE {where}{keyset}
ORDER BY s.{cr}, s.{tok}
LIMIT $9::integer
