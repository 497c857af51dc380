SELECT DISTINCT {st}::text FROM {t}
WHERE {st}::text NOT IN ($1, $2, $3, $4) OR {st} IS NULL LIMIT 5
