SELECT coalesce(to_jsonb(d) ->> 'datlocprovider', 'c') = 'c'
         AND d.datcollate IN ('C', 'POSIX', 'C.UTF-8', 'C.utf8'),
       EXISTS (SELECT 1 FROM follow_ups u WHERE u.run_id = $1)
FROM pg_database d
WHERE d.datname = current_database()
