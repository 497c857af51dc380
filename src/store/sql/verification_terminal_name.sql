CASE s.{st}::text WHEN ${c}::text THEN 'COMPLETED' WHEN ${x}::text THEN 'EXPIRED' WHEN ${f}::text THEN 'FAILED' END
