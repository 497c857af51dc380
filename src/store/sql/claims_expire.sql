DELETE FROM claims WHERE expires_at < now()
