-- The audit trail's token index as 0006 makes it (a hash index).
DROP INDEX IF EXISTS session_state_changes_token_idx;
CREATE INDEX IF NOT EXISTS session_state_changes_token_hash ON session_state_changes USING hash (session_token);
