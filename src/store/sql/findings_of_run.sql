SELECT {columns} FROM reconciler_findings WHERE run_id = {run}
ORDER BY {order}
