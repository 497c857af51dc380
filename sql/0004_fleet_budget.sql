-- 0004: one request budget per gateway URL and API key, shared by every run on this database
-- (README "One budget for the fleet"). Written unqualified: `migrate` runs it with search_path
-- set to the job's schema.
--
-- budget_id is hex(HMAC-SHA256(api key, label + gateway URL)): the same key and URL give the
-- same id everywhere, and the key is never stored.

-- One row per running worker, rewritten by its own beat about once a second (a HOT update of a
-- narrow row). A worker is live while its heartbeat is a few seconds old (the job's statement
-- says how many); rows of workers that died are ignored from then on and deleted by the next
-- beat of the same budget after ten minutes.
CREATE TABLE IF NOT EXISTS fleet_workers (
  budget_id    text NOT NULL,
  worker_id    text NOT NULL,
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  sent_rate    double precision NOT NULL DEFAULT 0,  -- requests/s it started over its last second
  cuts         bigint NOT NULL DEFAULT 0,            -- throttle cuts it announced so far
  cut_rate     double precision NOT NULL DEFAULT 0,  -- the per-worker rate of its last cut
  PRIMARY KEY (budget_id, worker_id)
) WITH (fillfactor = 50);

-- What a --rate auto run found (the total for the fleet): the next auto run starts there.
CREATE TABLE IF NOT EXISTS fleet_budgets (
  budget_id  text PRIMARY KEY,
  found_rate double precision NOT NULL CHECK (found_rate > 0),
  found_at   timestamptz NOT NULL DEFAULT now()
);
