-- 0003: the reconciler's bookkeeping in a schema of its own, keyed by session token; the
-- merchant's sessions table is never altered.
--
-- `migrate` runs this (and every later migration) with search_path set to the job's schema
-- (--schema, default deposit_reconciler) and nothing else: every unqualified name below is the
-- job's own. The merchant's table is only ever reached through the mapping, by the job's queries.
--
-- An installation from before this migration (0001 and 0002 applied in the public schema) is
-- moved, not copied: its runs, audit trail and findings tables change schema (a catalog update,
-- no rewrite), the re-check schedule of the still-NEW sessions is copied out of the old columns
-- of public.deposit_sessions into session_checks (a read of that table: the merchant's writes
-- are not blocked), and the old columns and indexes stay in place, unused, for one release.
-- The README says how to drop them.

DO $move$
BEGIN
  IF to_regclass('public.reconciler_runs') IS NOT NULL AND to_regclass('reconciler_runs') IS NULL THEN
    EXECUTE format('ALTER TABLE public.reconciler_runs SET SCHEMA %I', current_schema());
    EXECUTE format('ALTER TABLE public.session_state_changes SET SCHEMA %I', current_schema());
    EXECUTE format('ALTER TABLE public.reconciler_findings SET SCHEMA %I', current_schema());
    ALTER TABLE reconciler_findings RENAME TO findings;
    EXECUTE format('ALTER FUNCTION public.reconciler_recheck_delay(integer) SET SCHEMA %I',
                   current_schema());
    EXECUTE format('ALTER FUNCTION public.session_state_changes_refuse() SET SCHEMA %I',
                   current_schema());
    -- The old notification trigger keeps working for the merchant's handler: its function now
    -- finds the audit trail in the job's schema.
    IF to_regprocedure('public.deposit_sessions_record_state()') IS NOT NULL THEN
      EXECUTE format('ALTER FUNCTION public.deposit_sessions_record_state() SET search_path = %I, public',
                     current_schema());
    END IF;
  END IF;
END
$move$;

-- How long a session the gateway still reports NEW waits before its next check, given how many
-- checks it has had (1 after the first): 5 min, 15 min, 45 min, 2 h 15, 6 h 45, 20 h 15, then
-- every 24 h.
CREATE OR REPLACE FUNCTION reconciler_recheck_delay(checks integer) RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT least(interval '5 minutes' * power(3, greatest(least(checks, 8), 1) - 1),
               interval '24 hours')
$$;

CREATE TABLE IF NOT EXISTS reconciler_runs (
  id           bigserial PRIMARY KEY,
  worker_id    text NOT NULL,
  started_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz,
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  status       text NOT NULL DEFAULT 'running'
               CONSTRAINT reconciler_runs_status_check
               CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'interrupted',
                                 'abandoned', 'auth_rejected')),
  dry_run      boolean NOT NULL DEFAULT false,
  options      jsonb NOT NULL DEFAULT '{}',
  counts       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS reconciler_runs_running_idx
  ON reconciler_runs (heartbeat_at) WHERE status = 'running';

-- Per session the job has checked and found still unresolved (or could not check): when to ask
-- again. A session the job never checked has no row and is due at once; a resolved session's row
-- (if any) is never read again. Narrow and HOT-friendly: only token is indexed.
CREATE TABLE IF NOT EXISTS session_checks (
  session_token     text PRIMARY KEY,
  next_check_at     timestamptz NOT NULL,
  checks            integer NOT NULL DEFAULT 0,
  last_checked_at   timestamptz,
  attempts          integer NOT NULL DEFAULT 0,
  last_http_status  integer,
  last_error        text,
  stale_reported_at timestamptz
) WITH (fillfactor = 80);

-- The schedule of an installation from before 0003, out of its old columns.
DO $copy$
BEGIN
  IF EXISTS (SELECT 1 FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name = 'deposit_sessions'
               AND column_name = 'next_check_at') THEN
    INSERT INTO session_checks (session_token, next_check_at, checks, last_checked_at, attempts,
                                last_http_status, last_error, stale_reported_at)
    SELECT d.session_token, d.next_check_at, d.checks, d.last_checked_at, d.attempts,
           d.last_http_status, d.last_error, d.stale_reported_at
    FROM public.deposit_sessions d
    WHERE d.state = 'NEW' AND (d.checks > 0 OR d.last_checked_at IS NOT NULL)
    ON CONFLICT DO NOTHING;
  END IF;
END
$copy$;

-- Leases, one row per claimed batch (not per session): a claim writes one row, whatever its
-- size. A worker that dies stops extending expires_at; the next claim by anyone deletes expired
-- rows before it picks, which is how a worker learns (at apply) that it lost a lease.
CREATE TABLE IF NOT EXISTS claims (
  id         bigserial PRIMARY KEY,
  run_id     bigint NOT NULL,
  worker_id  text NOT NULL,
  expires_at timestamptz NOT NULL,
  tokens     text[] NOT NULL
);
CREATE INDEX IF NOT EXISTS claims_worker_idx ON claims (worker_id);

-- Audit trail and outbox: one row per state change of a session.
--   creation        the row was inserted by `create-session`, or by anyone while the opt-in
--                   notification trigger is installed
--   notification    anyone but the reconciler changed state (recorded by the opt-in trigger)
--   reconciliation  the reconciler, with its run, the gateway's raw answer and a copy of the
--                   person fields its report shows (so `report --run` renders the same later)
-- No foreign keys: the trail outlives the rows it describes, and a key check per inserted row
-- is a cost per session.
CREATE TABLE IF NOT EXISTS session_state_changes (
  id             bigserial NOT NULL,
  session_token  text NOT NULL,
  old_state      text,
  new_state      text NOT NULL,
  source         text NOT NULL
                 CONSTRAINT session_state_changes_source_check
                 CHECK (source IN ('creation', 'notification', 'reconciliation')),
  run_id         bigint,
  changed_at     timestamptz NOT NULL DEFAULT now(),
  gateway_answer text,
  CONSTRAINT session_state_changes_run_check CHECK ((source = 'reconciliation') = (run_id IS NOT NULL))
);
ALTER TABLE session_state_changes DROP CONSTRAINT IF EXISTS session_state_changes_run_id_fkey;
ALTER TABLE session_state_changes
  ADD COLUMN IF NOT EXISTS user_id           text,
  ADD COLUMN IF NOT EXISTS user_name         text,
  ADD COLUMN IF NOT EXISTS user_name_surname text,
  ADD COLUMN IF NOT EXISTS user_email        text,
  ADD COLUMN IF NOT EXISTS created_at        timestamptz,  -- the session's creation
  ADD COLUMN IF NOT EXISTS attempts          integer;
CREATE INDEX IF NOT EXISTS session_state_changes_token_idx
  ON session_state_changes (session_token, id);
-- Ids come from the sequence and only grow: readers of an id range (the NOTIFY payload names
-- one) are served by a BRIN index, and no B-tree entry per change is spent on uniqueness that the
-- sequence already gives (the table refuses UPDATE and DELETE, so no replica identity is needed).
ALTER TABLE session_state_changes DROP CONSTRAINT IF EXISTS session_state_changes_pkey;
CREATE INDEX IF NOT EXISTS session_state_changes_id_brin
  ON session_state_changes USING brin (id);
-- The report of a run reads its own changes: run ids grow with the table, so a BRIN index finds
-- them at next to no cost per inserted row (a B-tree would be one more entry per change).
DROP INDEX IF EXISTS session_state_changes_run_idx;
CREATE INDEX IF NOT EXISTS session_state_changes_run_brin
  ON session_state_changes USING brin (run_id);

CREATE OR REPLACE FUNCTION session_state_changes_refuse() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'session_state_changes is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;
DROP TRIGGER IF EXISTS session_state_changes_append_only ON session_state_changes;
CREATE TRIGGER session_state_changes_append_only
  BEFORE UPDATE OR DELETE ON session_state_changes
  FOR EACH ROW EXECUTE FUNCTION session_state_changes_refuse();
DROP TRIGGER IF EXISTS session_state_changes_no_truncate ON session_state_changes;
CREATE TRIGGER session_state_changes_no_truncate
  BEFORE TRUNCATE ON session_state_changes
  FOR EACH STATEMENT EXECUTE FUNCTION session_state_changes_refuse();

-- Findings that are not state changes of this run: unchecked, stale, anomaly (and, for dry runs,
-- what the run would have resolved). A resolved session's finding is its audit row.
CREATE TABLE IF NOT EXISTS findings (
  run_id            bigint NOT NULL,
  category          text NOT NULL
                    CONSTRAINT reconciler_findings_category_check
                    CHECK (category IN ('expired', 'failed', 'backfilled_completed', 'unchecked',
                                        'stale', 'anomaly')),
  session_token     text NOT NULL,
  user_id           text NOT NULL,
  user_name         text NOT NULL,
  user_name_surname text,
  user_email        text,
  previous_state    text NOT NULL
                    CHECK (previous_state IN ('NEW', 'COMPLETED', 'EXPIRED', 'FAILED')),
  gateway_state     text
                    CHECK (gateway_state IN ('NEW', 'COMPLETED', 'EXPIRED', 'FAILED')),
  created_at        timestamptz NOT NULL,
  checked_at        timestamptz,
  attempts          integer NOT NULL DEFAULT 0,
  error             text,
  followed_up_at    timestamptz,  -- legacy rows only; follow_ups holds the marks
  followed_up_by    text,
  PRIMARY KEY (run_id, session_token, category)
);
ALTER TABLE findings DROP CONSTRAINT IF EXISTS reconciler_findings_run_id_fkey;

-- Who dealt with which finding, and when. One row per mark, written by `follow-up`.
CREATE TABLE IF NOT EXISTS follow_ups (
  run_id         bigint NOT NULL,
  session_token  text NOT NULL,
  category       text NOT NULL,
  followed_up_at timestamptz NOT NULL DEFAULT now(),
  followed_up_by text NOT NULL,
  PRIMARY KEY (run_id, session_token, category)
);
INSERT INTO follow_ups (run_id, session_token, category, followed_up_at, followed_up_by)
SELECT run_id, session_token, category, followed_up_at, followed_up_by
FROM findings WHERE followed_up_at IS NOT NULL
ON CONFLICT DO NOTHING;

-- Every finding of every run, as the reports read them.
CREATE OR REPLACE VIEW reconciler_findings AS
SELECT f.run_id, f.category, f.session_token, f.user_id, f.user_name, f.user_name_surname,
       f.user_email, f.previous_state, f.gateway_state, f.created_at, f.checked_at, f.attempts,
       f.error, u.followed_up_at, u.followed_up_by
FROM findings f
LEFT JOIN follow_ups u USING (run_id, session_token, category)
UNION ALL
SELECT c.run_id,
       CASE c.new_state WHEN 'COMPLETED' THEN 'backfilled_completed'
                        WHEN 'EXPIRED' THEN 'expired' ELSE 'failed' END,
       c.session_token, coalesce(c.user_id, ''), coalesce(c.user_name, ''), c.user_name_surname,
       c.user_email, c.old_state, c.new_state, coalesce(c.created_at, c.changed_at), c.changed_at,
       coalesce(c.attempts, 0), NULL, u.followed_up_at, u.followed_up_by
FROM session_state_changes c
LEFT JOIN follow_ups u
  ON u.run_id = c.run_id AND u.session_token = c.session_token
 AND u.category = CASE c.new_state WHEN 'COMPLETED' THEN 'backfilled_completed'
                                   WHEN 'EXPIRED' THEN 'expired' ELSE 'failed' END
WHERE c.source = 'reconciliation'
  -- An audit row from before this migration (no created_at) has its finding in `findings`
  -- already; the check costs nothing for the rows written since.
  AND (c.created_at IS NOT NULL
       OR NOT EXISTS (SELECT 1 FROM findings f
                      WHERE f.run_id = c.run_id AND f.session_token = c.session_token
                        AND f.category IN ('backfilled_completed', 'expired', 'failed')));
