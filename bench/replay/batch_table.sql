-- A priced design (fifth session): the job's changes as one row per applied batch, one array per
-- column, ids drawn per change from the audit trail's sequence. No index by token.
CREATE TABLE state_change_batches (
  ids                bigint[] NOT NULL,
  run_id             bigint NOT NULL,
  changed_at         timestamptz NOT NULL DEFAULT now(),
  tokens             text[] NOT NULL,
  new_states         text[] NOT NULL,
  gateway_answers    text[] NOT NULL,
  user_ids           text[],
  user_names         text[],
  user_name_surnames text[],
  user_emails        text[],
  created_ats        timestamptz[],
  attempts           integer[]
);
CREATE INDEX state_change_batches_run_brin ON state_change_batches USING brin (run_id);
CREATE INDEX state_change_batches_changed_brin ON state_change_batches USING brin (changed_at);
