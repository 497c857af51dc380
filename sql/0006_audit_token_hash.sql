-- migrate: outside a transaction
-- 0006: the audit trail's lookup by session token through a hash index instead of a B-tree.
--
-- session_state_changes takes one row per change the job makes (about one per resolved
-- session), and its token index is the one index entry per row that B-tree insertion makes
-- expensive: every insert descends the tree comparing text under the database's collation, and
-- gateway tokens are random, so each lands on a random leaf. A hash index answers the only
-- lookup anyone makes by token (equality: --verify-notifications, a person reading a session's
-- history) and costs 0.8-1.8 microseconds less per inserted row with random tokens (bench/README.md,
-- "Where the database time goes").
--
-- The audit trail can be large and the merchant's notification handler may write to it (the
-- opt-in trigger), so the index is built and the old one dropped CONCURRENTLY: neither blocks
-- inserts. CONCURRENTLY cannot run inside a transaction, so `migrate` runs this file statement
-- by statement outside one (the first line says so) and records it only when all of them
-- succeeded. Every statement may run again: a build that failed half-way leaves an INVALID
-- index, which the first statement drops.
DROP INDEX CONCURRENTLY IF EXISTS session_state_changes_token_hash;
CREATE INDEX CONCURRENTLY session_state_changes_token_hash
  ON session_state_changes USING hash (session_token);
DROP INDEX CONCURRENTLY IF EXISTS session_state_changes_token_idx;
