DELETE FROM claims WHERE worker_id = $1
