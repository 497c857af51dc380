SELECT (extract(epoch FROM finished_at) * 1000000)::bigint
FROM reconciler_runs
WHERE status = 'succeeded' AND NOT dry_run
ORDER BY finished_at DESC NULLS LAST LIMIT 1
