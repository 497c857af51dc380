-- 0009: the schedule carries its session's creation time, so that a claim reads the schedule
-- rows of the window it walks with one range scan instead of probing session_checks' primary
-- key once per candidate session; and the claims' token lists are compressed with lz4.
--
-- A claim walks the merchant's sessions in (created_at, token) order. Until this migration it
-- joined each candidate to its schedule row through session_checks' primary key: one B-tree
-- descent per candidate, about a third of a claim's cost (bench/README.md, "Sixth session").
-- From now on the apply's schedule upsert writes the session's creation time (as timestamptz;
-- every connection of the job runs in UTC) into created_at, and the claim reads
-- `created_at BETWEEN first and last of its window` through the index below and joins by hash.
--
-- Rows written before this migration have no creation time: `migrate` fills it in from the
-- merchant's table right after this file (a read of their table; see store/migrator.cc), and a
-- claim still reads every row without one (`created_at IS NULL`, the same index), so the claim
-- stays exact before that and whatever the order. A merchant who changes a session's creation
-- time after its last check moves it out of the window its schedule row is filed under: see the
-- README, "The database: what a run writes".
--
-- Only the job's own tables are touched: the column is added without a default (a catalog
-- change, no rewrite), the index is built under a lock on session_checks, which only the job
-- writes (a run waits, no write of the merchant's does). Each lock is waited for at most 10 s.
SET LOCAL lock_timeout = '10s';

ALTER TABLE session_checks ADD COLUMN IF NOT EXISTS created_at timestamptz;
CREATE INDEX IF NOT EXISTS session_checks_created_at_idx ON session_checks (created_at);

-- A claim's token list is written compressed into TOAST (about 10 kB for 500 tokens): lz4
-- compresses it at a fraction of pglz's CPU, as 0007 does for the audit batches. A server built
-- without lz4 keeps the default.
DO $lz4$
BEGIN
  ALTER TABLE claims ALTER COLUMN tokens SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR syntax_error OR invalid_parameter_value THEN
  NULL;
END
$lz4$;
