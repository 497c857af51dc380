-- 0005: verifying the terminal states that notifications wrote (`run --verify-notifications DUR`).
--
-- Runs with search_path set to the job's schema: every name below is the job's own. The
-- merchant's table is not touched.

-- One row per session whose notification-written terminal state a run verified, or is verifying
-- now. outcome NULL: claimed by worker_id (for run_id) until lease_expires_at, not verified yet;
-- 'agree' or 'anomaly': verified, never asked about again. Rows are few (one per notification
-- verified), so plain B-trees are cheap here.
--   notified_basis  where notified_at comes from: 'audit_trail' (the notification trigger's row
--                   in session_state_changes), 'updated_at' (the mapped --updated-at-column of a
--                   row the job did not write), 'first_seen' (when a run first saw the row in a
--                   terminal state the job did not write; terminal_sightings)
--   gateway_state   NULL with outcome 'anomaly': the gateway answered 404 (it does not know it)
CREATE TABLE IF NOT EXISTS verifications (
  session_token    text PRIMARY KEY,
  notified_state   text NOT NULL
                   CONSTRAINT verifications_notified_state_check
                   CHECK (notified_state IN ('COMPLETED', 'EXPIRED', 'FAILED')),
  notified_at      timestamptz NOT NULL,
  notified_basis   text NOT NULL
                   CONSTRAINT verifications_notified_basis_check
                   CHECK (notified_basis IN ('audit_trail', 'updated_at', 'first_seen')),
  run_id           bigint NOT NULL,
  worker_id        text NOT NULL,
  lease_expires_at timestamptz,
  outcome          text
                   CONSTRAINT verifications_outcome_check
                   CHECK (outcome IN ('agree', 'anomaly')),
  gateway_state    text
                   CONSTRAINT verifications_gateway_state_check
                   CHECK (gateway_state IN ('NEW', 'COMPLETED', 'EXPIRED', 'FAILED')),
  http_status      integer,
  verified_at      timestamptz,
  CONSTRAINT verifications_verified_check CHECK ((outcome IS NULL) = (verified_at IS NULL))
);
CREATE INDEX IF NOT EXISTS verifications_claimed_idx
  ON verifications (worker_id) WHERE outcome IS NULL;

-- For a mapped table with neither the notification trigger nor an --updated-at-column: when a
-- run first saw each row in a terminal state the job did not write. The first look at a table
-- (sighting_baselines) marks what is terminal already as at_baseline: when those became terminal
-- is unknown, and they are never verified.
CREATE TABLE IF NOT EXISTS terminal_sightings (
  session_token text PRIMARY KEY,
  first_seen_at timestamptz NOT NULL,
  at_baseline   boolean NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS sighting_baselines (
  sessions_table text PRIMARY KEY,  -- the mapped table as configured (--sessions-table)
  taken_at       timestamptz NOT NULL DEFAULT now()
);

-- The notifications of the last DUR are found by their time. changed_at grows with the table
-- (rows are appended), so a BRIN index serves the range at next to no cost per inserted row.
CREATE INDEX IF NOT EXISTS session_state_changes_changed_brin
  ON session_state_changes USING brin (changed_at);
