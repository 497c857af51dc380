DROP INDEX session_state_changes_token_idx;
CREATE INDEX session_state_changes_token_hash ON session_state_changes USING hash (session_token);
