-- 0002: what the reconciler needs for itself: its bookkeeping columns on deposit_sessions, its
-- runs, the append-only audit trail of state changes, and the findings its reports are made of.

-- Re-check schedule, lease and last result of each session. Only the reconciler writes these.
ALTER TABLE deposit_sessions
  ADD COLUMN IF NOT EXISTS next_check_at     timestamptz NOT NULL DEFAULT now(),
  ADD COLUMN IF NOT EXISTS checks            integer NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS last_checked_at   timestamptz,
  ADD COLUMN IF NOT EXISTS lease_owner       text,
  ADD COLUMN IF NOT EXISTS lease_expires_at  timestamptz,
  ADD COLUMN IF NOT EXISTS lease_run_id      bigint,
  ADD COLUMN IF NOT EXISTS last_error        text,
  ADD COLUMN IF NOT EXISTS last_http_status  integer,
  ADD COLUMN IF NOT EXISTS attempts          integer NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS stale_reported_at timestamptz;

-- Claiming reads only unresolved rows: these partial indexes stay the size of the NEW backlog
-- however many resolved sessions the table holds. The first serves scheduled runs (most overdue
-- first), the second --all runs and backfill windows; the token makes each a keyset that dry
-- runs page through.
CREATE INDEX IF NOT EXISTS deposit_sessions_new_next_check_idx
  ON deposit_sessions (next_check_at, session_token) WHERE state = 'NEW';
CREATE INDEX IF NOT EXISTS deposit_sessions_new_created_idx
  ON deposit_sessions (created_at, session_token) WHERE state = 'NEW';
-- Heartbeats extend, and release_leases clears, one worker's leases.
CREATE INDEX IF NOT EXISTS deposit_sessions_lease_owner_idx
  ON deposit_sessions (lease_owner) WHERE lease_owner IS NOT NULL;

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
-- Finding runs that died without finishing (heartbeat too old).
CREATE INDEX IF NOT EXISTS reconciler_runs_running_idx
  ON reconciler_runs (heartbeat_at) WHERE status = 'running';

-- Audit trail and outbox: one row per state change of a session, whoever made it.
--   creation        the row was inserted (old_state is NULL)
--   notification    anyone but the reconciler changed state: the notification handler, a person
--   reconciliation  the reconciler, with its run and the gateway's raw answer
-- No foreign key to deposit_sessions: the trail outlives the rows it describes.
CREATE TABLE IF NOT EXISTS session_state_changes (
  id             bigserial PRIMARY KEY,
  session_token  text NOT NULL,
  old_state      text,
  new_state      text NOT NULL,
  source         text NOT NULL
                 CONSTRAINT session_state_changes_source_check
                 CHECK (source IN ('creation', 'notification', 'reconciliation')),
  run_id         bigint REFERENCES reconciler_runs (id),
  changed_at     timestamptz NOT NULL DEFAULT now(),
  gateway_answer text,
  CONSTRAINT session_state_changes_run_check CHECK ((source = 'reconciliation') = (run_id IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS session_state_changes_token_idx
  ON session_state_changes (session_token, id);

-- Append-only, for real: rows can be inserted and read, never changed or removed.
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

-- updated_at follows changes to the merchant's data (state and the session's fields), not the
-- reconciler's bookkeeping (leases, schedule).
CREATE OR REPLACE FUNCTION deposit_sessions_touch() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS deposit_sessions_touch ON deposit_sessions;
CREATE TRIGGER deposit_sessions_touch
  BEFORE UPDATE ON deposit_sessions
  FOR EACH ROW
  WHEN ((OLD.state, OLD.user_id, OLD.user_name, OLD.user_name_surname, OLD.user_email,
         OLD.redirect_url, OLD.checkout_url, OLD.min_payment_usd, OLD.max_payment_usd,
         OLD.fiat_currency, OLD.language)
        IS DISTINCT FROM
        (NEW.state, NEW.user_id, NEW.user_name, NEW.user_name_surname, NEW.user_email,
         NEW.redirect_url, NEW.checkout_url, NEW.min_payment_usd, NEW.max_payment_usd,
         NEW.fiat_currency, NEW.language))
  EXECUTE FUNCTION deposit_sessions_touch();

-- Records creations and every state change made by anyone but the reconciler. The reconciler's
-- apply statement sets the transaction-local setting deposit_reconciler.run_id and inserts its
-- own rows (with the run id and the gateway's raw answer) in that same statement, so each change
-- is recorded exactly once.
CREATE OR REPLACE FUNCTION deposit_sessions_record_state() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO session_state_changes (session_token, old_state, new_state, source)
    VALUES (NEW.session_token, NULL, NEW.state, 'creation');
  ELSIF coalesce(current_setting('deposit_reconciler.run_id', true), '') = '' THEN
    INSERT INTO session_state_changes (session_token, old_state, new_state, source)
    VALUES (NEW.session_token, OLD.state, NEW.state, 'notification');
  END IF;
  RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS deposit_sessions_record_insert ON deposit_sessions;
CREATE TRIGGER deposit_sessions_record_insert
  AFTER INSERT ON deposit_sessions
  FOR EACH ROW EXECUTE FUNCTION deposit_sessions_record_state();
DROP TRIGGER IF EXISTS deposit_sessions_record_state ON deposit_sessions;
CREATE TRIGGER deposit_sessions_record_state
  AFTER UPDATE ON deposit_sessions
  FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
  EXECUTE FUNCTION deposit_sessions_record_state();

-- What a run found, for people to follow up. One row per session and category per run; the
-- person fields are copied from deposit_sessions when the finding is written.
CREATE TABLE IF NOT EXISTS reconciler_findings (
  run_id            bigint NOT NULL REFERENCES reconciler_runs (id),
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
  created_at        timestamptz NOT NULL,      -- the session's creation
  checked_at        timestamptz,               -- when the gateway answered (or gave up)
  attempts          integer NOT NULL DEFAULT 0,
  error             text,
  followed_up_at    timestamptz,
  followed_up_by    text,
  PRIMARY KEY (run_id, session_token, category),
  CONSTRAINT reconciler_findings_follow_up_check
    CHECK ((followed_up_at IS NULL) = (followed_up_by IS NULL))
);
CREATE INDEX IF NOT EXISTS reconciler_findings_open_idx
  ON reconciler_findings (run_id) WHERE followed_up_at IS NULL;
