-- 0001: the merchant's session table, exactly as DESIGN.md "Database contract" lists it.
--
-- The merchant's application inserts one row per session it creates at the gateway, and its
-- notification handler records the outcome. IF NOT EXISTS: a merchant who already has this table
-- keeps it (and its rows); 0002 adds the reconciler's own columns to it.
--
-- The notification handler must run exactly this statement, so that an outcome is written once
-- and a terminal state is never overwritten (the reconciler follows the same rule):
--
--   UPDATE deposit_sessions SET state = $2 WHERE session_token = $1 AND state = 'NEW';
--
-- (zero rows updated = the session was already resolved; that is not an error.)

CREATE TABLE IF NOT EXISTS deposit_sessions (
  session_token     text PRIMARY KEY,          -- the gateway's sessionToken ("Operation No")
  user_id           text NOT NULL,             -- 1..4000 chars
  user_name         text NOT NULL,
  user_name_surname text,
  user_email        text,
  redirect_url      text,
  checkout_url      text,
  min_payment_usd   numeric,
  max_payment_usd   numeric,
  fiat_currency     text,                      -- USD EUR GBP KRW BRL TRY
  language          text,                      -- 2 letters
  state             text NOT NULL DEFAULT 'NEW'
                    CONSTRAINT deposit_sessions_state_check
                    CHECK (state IN ('NEW', 'COMPLETED', 'EXPIRED', 'FAILED')),
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);
