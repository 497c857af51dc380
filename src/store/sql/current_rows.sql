SELECT s.{tok}::text, s.{st}::text, s.{cr}::timestamptz, {person_s}
FROM {table} s
WHERE s.{tok} IN (SELECT jsonb_array_elements_text($1::jsonb))
