INSERT INTO session_state_change_rows (session_token, old_state, new_state, source)
VALUES ($1, NULL, 'NEW', 'creation')
