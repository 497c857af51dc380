DELETE FROM fleet_workers WHERE budget_id = $1 AND worker_id = $2
