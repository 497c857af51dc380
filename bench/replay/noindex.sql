-- The audit trail without any index (token hash, BRIN on id, run_id, changed_at): the heap
-- insert and the sequence alone.
DROP INDEX IF EXISTS session_state_changes_token_hash;
DROP INDEX IF EXISTS session_state_changes_token_idx;
DROP INDEX IF EXISTS session_state_changes_id_brin;
DROP INDEX IF EXISTS session_state_changes_run_brin;
DROP INDEX IF EXISTS session_state_changes_changed_brin;
