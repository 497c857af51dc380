-- The audit trail's token index as 0003 made it (a B-tree), for comparing with a migrated 0006.
DROP INDEX IF EXISTS session_state_changes_token_hash;
CREATE INDEX IF NOT EXISTS session_state_changes_token_idx ON session_state_changes (session_token, id);
