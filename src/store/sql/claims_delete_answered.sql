DELETE FROM claims
WHERE worker_id = $2 AND id IN (SELECT jsonb_array_elements_text($1::jsonb)::bigint)
