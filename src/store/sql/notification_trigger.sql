CREATE OR REPLACE FUNCTION record_state_change() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO session_state_change_rows (session_token, old_state, new_state, source)
    VALUES (NEW.{tok}::text, NULL, {canon_new}, 'creation');
  ELSIF coalesce(current_setting('deposit_reconciler.run_id', true), '') = '' THEN
    INSERT INTO session_state_change_rows (session_token, old_state, new_state, source)
    VALUES (NEW.{tok}::text, {canon_old}, {canon_new}, 'notification');
  END IF;
  RETURN NULL;
END
$fn$;
DROP TRIGGER IF EXISTS deposit_reconciler_audit_insert ON {table};
CREATE TRIGGER deposit_reconciler_audit_insert
  AFTER INSERT ON {table}
  FOR EACH ROW EXECUTE FUNCTION record_state_change();
DROP TRIGGER IF EXISTS deposit_reconciler_audit_update ON {table};
CREATE TRIGGER deposit_reconciler_audit_update
  AFTER UPDATE OF {st} ON {table}
  FOR EACH ROW WHEN (OLD.{st} IS DISTINCT FROM NEW.{st})
  EXECUTE FUNCTION record_state_change();

