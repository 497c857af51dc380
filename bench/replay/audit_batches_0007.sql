-- A copy of sql/0007_audit_batches.sql as a replay setup (fifth session).
-- 0007: the job's changes as one audit row per applied batch instead of one row per change.
--
-- Each change the job makes cost a row of its own in session_state_changes: a heap insert, a
-- sequence value, a hash index entry and the statement's work to carry it, about 5-7
-- microseconds per resolved session whatever the row's width (bench/README.md, "Fifth
-- session"). From this migration on the job writes one row per batch into
-- session_state_change_batches, one array per column (tokens, new states, raw answers, the
-- person fields, creation times, attempts) and the ids of its changes, drawn from the audit
-- trail's sequence one per change as before.
--
-- Readers keep reading what they read: session_state_changes becomes a view with the same
-- columns, the rows of session_state_change_rows (the table renamed: creations, notifications
-- and every change recorded before this migration, with their ids) and the batches unpacked one
-- row per change. The merchant's handler statement (`... WHERE run_id = 7 AND id BETWEEN first
-- AND last`, named by the NOTIFY payload) returns the same rows; session_state_changes_between(
-- run, first, last) returns them reading only the batches that hold those ids. Inserting into the view still
-- works (a rule sends the row to session_state_change_rows), so the notification trigger of an
-- installation from before 0003 and a binary from before this migration keep recording. The
-- view refuses UPDATE and DELETE as the table did, and both tables refuse UPDATE, DELETE and
-- TRUNCATE.
--
-- The rename takes the audit trail's lock for a catalog update only (no rewrite, no scan); it
-- waits at most 10 s for transactions that are writing to it, and fails rather than queue the
-- merchant's writes behind it: run `migrate` again then.
SET LOCAL lock_timeout = '10s';

DO $rename$
BEGIN
  IF to_regclass('session_state_change_rows') IS NULL THEN
    ALTER TABLE session_state_changes RENAME TO session_state_change_rows;
  END IF;
END
$rename$;

CREATE TABLE IF NOT EXISTS session_state_change_batches (
  ids                bigint[] NOT NULL,  -- one per change, from the audit trail's sequence
  run_id             bigint NOT NULL,
  changed_at         timestamptz NOT NULL DEFAULT now(),
  tokens             text[] NOT NULL,
  new_states         text[] NOT NULL,
  gateway_answers    text[] NOT NULL,
  user_ids           text[] NOT NULL,
  user_names         text[] NOT NULL,
  user_name_surnames text[] NOT NULL,
  user_emails        text[] NOT NULL,
  created_ats        timestamptz[] NOT NULL,
  attempts           integer[] NOT NULL,
  first_id           bigint GENERATED ALWAYS AS (ids[1]) STORED,
  last_id            bigint GENERATED ALWAYS AS (ids[cardinality(ids)]) STORED,
  CONSTRAINT session_state_change_batches_aligned CHECK (
    cardinality(ids) > 0 AND cardinality(tokens) = cardinality(ids)
    AND cardinality(new_states) = cardinality(ids)
    AND cardinality(gateway_answers) = cardinality(ids)
    AND cardinality(user_ids) = cardinality(ids) AND cardinality(user_names) = cardinality(ids)
    AND cardinality(user_name_surnames) = cardinality(ids)
    AND cardinality(user_emails) = cardinality(ids) AND cardinality(created_ats) = cardinality(ids)
    AND cardinality(attempts) = cardinality(ids))
);
-- A batch's arrays are tens of kilobytes and go to TOAST: lz4 compresses them at a fraction of
-- the default pglz's CPU (1-3 microseconds per change less in the replay). A server built
-- without lz4 keeps the default.
DO $lz4$
BEGIN
  ALTER TABLE session_state_change_batches
    ALTER COLUMN ids SET COMPRESSION lz4, ALTER COLUMN tokens SET COMPRESSION lz4,
    ALTER COLUMN new_states SET COMPRESSION lz4, ALTER COLUMN gateway_answers SET COMPRESSION lz4,
    ALTER COLUMN user_ids SET COMPRESSION lz4, ALTER COLUMN user_names SET COMPRESSION lz4,
    ALTER COLUMN user_name_surnames SET COMPRESSION lz4,
    ALTER COLUMN user_emails SET COMPRESSION lz4, ALTER COLUMN created_ats SET COMPRESSION lz4,
    ALTER COLUMN attempts SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR syntax_error OR invalid_parameter_value THEN
  NULL;
END
$lz4$;
-- One entry per batch, not per change: readers of an id range (the NOTIFY payload) and of a
-- run (the report) find their batches by B-tree; the window of --verify-notifications by BRIN.
CREATE INDEX IF NOT EXISTS session_state_change_batches_last_id_idx
  ON session_state_change_batches (last_id);
CREATE INDEX IF NOT EXISTS session_state_change_batches_run_idx
  ON session_state_change_batches (run_id);
CREATE INDEX IF NOT EXISTS session_state_change_batches_changed_brin
  ON session_state_change_batches USING brin (changed_at);

DROP TRIGGER IF EXISTS session_state_change_batches_append_only ON session_state_change_batches;
CREATE TRIGGER session_state_change_batches_append_only
  BEFORE UPDATE OR DELETE ON session_state_change_batches
  FOR EACH ROW EXECUTE FUNCTION session_state_changes_refuse();
DROP TRIGGER IF EXISTS session_state_change_batches_no_truncate ON session_state_change_batches;
CREATE TRIGGER session_state_change_batches_no_truncate
  BEFORE TRUNCATE ON session_state_change_batches
  FOR EACH STATEMENT EXECUTE FUNCTION session_state_changes_refuse();

-- Every change, one row each, with the columns (and their order) the table had.
CREATE OR REPLACE VIEW session_state_changes AS
SELECT r.id, r.session_token, r.old_state, r.new_state, r.source, r.run_id, r.changed_at,
       r.gateway_answer, r.user_id, r.user_name, r.user_name_surname, r.user_email, r.created_at,
       r.attempts
FROM session_state_change_rows r
UNION ALL
SELECT u.id, u.session_token, 'NEW'::text, u.new_state, 'reconciliation'::text, b.run_id,
       b.changed_at, u.gateway_answer, u.user_id, u.user_name, u.user_name_surname, u.user_email,
       u.created_at, u.attempts
FROM session_state_change_batches b
CROSS JOIN LATERAL unnest(b.ids, b.tokens, b.new_states, b.gateway_answers, b.user_ids,
                          b.user_names, b.user_name_surnames, b.user_emails, b.created_ats,
                          b.attempts)
  AS u(id, session_token, new_state, gateway_answer, user_id, user_name, user_name_surname,
       user_email, created_at, attempts);
ALTER VIEW session_state_changes
  ALTER COLUMN id SET DEFAULT nextval('session_state_changes_id_seq'::regclass);
ALTER VIEW session_state_changes ALTER COLUMN changed_at SET DEFAULT now();

-- Writers of single rows (creation, the notification triggers, an older binary) keep inserting
-- into session_state_changes; the row lands in session_state_change_rows.
CREATE OR REPLACE RULE session_state_changes_insert AS ON INSERT TO session_state_changes
DO INSTEAD
  INSERT INTO session_state_change_rows
    (id, session_token, old_state, new_state, source, run_id, changed_at, gateway_answer,
     user_id, user_name, user_name_surname, user_email, created_at, attempts)
  VALUES (NEW.id, NEW.session_token, NEW.old_state, NEW.new_state, NEW.source, NEW.run_id,
          NEW.changed_at, NEW.gateway_answer, NEW.user_id, NEW.user_name, NEW.user_name_surname,
          NEW.user_email, NEW.created_at, NEW.attempts)
  RETURNING session_state_change_rows.*;

-- Append-only through the view too.
CREATE OR REPLACE FUNCTION session_state_changes_refused(op text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'session_state_changes is append-only: % refused', op
    USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE OR REPLACE RULE session_state_changes_update AS ON UPDATE TO session_state_changes
DO INSTEAD SELECT session_state_changes_refused('UPDATE');
CREATE OR REPLACE RULE session_state_changes_delete AS ON DELETE TO session_state_changes
DO INSTEAD SELECT session_state_changes_refused('DELETE');

-- The changes of run `run` with ids first..last (what `... WHERE run_id = run AND id BETWEEN
-- first AND last` returns), reading only the batches that hold them: the view above unpacks
-- every batch of the run its reader names. Same columns as the view.
CREATE OR REPLACE FUNCTION session_state_changes_between(run bigint, first bigint, last bigint)
RETURNS SETOF session_state_changes
LANGUAGE sql STABLE AS $$
  SELECT r.id, r.session_token, r.old_state, r.new_state, r.source, r.run_id, r.changed_at,
         r.gateway_answer, r.user_id, r.user_name, r.user_name_surname, r.user_email,
         r.created_at, r.attempts
  FROM session_state_change_rows r
  WHERE r.run_id = run AND r.id BETWEEN first AND last
  UNION ALL
  SELECT u.id, u.session_token, 'NEW'::text, u.new_state, 'reconciliation'::text, b.run_id,
         b.changed_at, u.gateway_answer, u.user_id, u.user_name, u.user_name_surname,
         u.user_email, u.created_at, u.attempts
  FROM session_state_change_batches b
  CROSS JOIN LATERAL unnest(b.ids, b.tokens, b.new_states, b.gateway_answers, b.user_ids,
                            b.user_names, b.user_name_surnames, b.user_emails, b.created_ats,
                            b.attempts)
    AS u(id, session_token, new_state, gateway_answer, user_id, user_name, user_name_surname,
         user_email, created_at, attempts)
  WHERE b.run_id = run AND b.last_id >= first AND b.first_id <= last
    AND u.id BETWEEN first AND last
$$;

-- The findings of resolved sessions are their audit rows, from either table.
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
  -- An audit row from before 0003 (no created_at) has its finding in `findings` already.
  AND (c.created_at IS NOT NULL
       OR NOT EXISTS (SELECT 1 FROM findings f
                      WHERE f.run_id = c.run_id AND f.session_token = c.session_token
                        AND f.category IN ('backfilled_completed', 'expired', 'failed')));
