SELECT id, worker_id, (extract(epoch FROM started_at) * 1000000)::bigint,
       (extract(epoch FROM finished_at) * 1000000)::bigint,
       (extract(epoch FROM heartbeat_at) * 1000000)::bigint, status, dry_run, options::text,
       counts::text
FROM reconciler_runs
WHERE id = $1
