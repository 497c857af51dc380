-- The audit trail without its token index (to price the hash index of 0006).
DROP INDEX IF EXISTS session_state_changes_token_hash;
DROP INDEX IF EXISTS session_state_changes_token_idx;
