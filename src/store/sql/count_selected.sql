SELECT count(*) FROM {table} s LEFT JOIN session_checks k ON k.session_token = s.{tok}::text COLLATE "C" WHERE {where}
