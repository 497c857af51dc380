SELECT started_at::text, dry_run FROM reconciler_runs WHERE id = $1
