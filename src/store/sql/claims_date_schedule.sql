UPDATE session_checks k SET created_at = coalesce(s.{cr}::timestamptz, '-infinity')
FROM session_checks k0 LEFT JOIN {table} s ON s.{tok}::text COLLATE "C" = k0.session_token
WHERE k0.created_at IS NULL AND k.session_token = k0.session_token
