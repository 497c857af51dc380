SELECT max(id) FROM reconciler_runs
