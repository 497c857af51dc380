// The naive job bench/throughput.sh compares deposit-reconciler with: what a merchant's developer
// would write in an afternoon. Node 20's built-in fetch, the `pg` package, a promise pool of
// CONCURRENCY requests, and one guarded UPDATE per batch of 500 answers; a CSV of the sessions
// that changed. No retries, no leases, no schedule, no audit trail.
//
// Environment: DATABASE_URL, GATEWAY_BASE_URL, GATEWAY_API_KEY, CONCURRENCY (default 64),
// REPORT (CSV path). Prints one JSON line: {"checked": N, "updated": N, "errors": N}.
import fs from 'node:fs';
import pg from 'pg';

const { DATABASE_URL, GATEWAY_BASE_URL, GATEWAY_API_KEY } = process.env;
const CONCURRENCY = Number(process.env.CONCURRENCY || 64);
const BATCH = 500;

const db = new pg.Client({ connectionString: DATABASE_URL });
await db.connect();
const report = fs.createWriteStream(process.env.REPORT || '/dev/null');
report.write('session_token,state\n');

// Tokens, one keyset page at a time.
let page = [];
let lastToken = '';
let exhausted = false;
let loading = null;
async function nextToken() {
  while (page.length === 0) {
    if (exhausted) return null;
    if (!loading) {
      loading = db
        .query(
          `SELECT session_token FROM deposit_sessions
           WHERE state = 'NEW' AND created_at < now() - interval '15 minutes' AND session_token > $1
           ORDER BY session_token LIMIT ${BATCH}`,
          [lastToken],
        )
        .then((r) => {
          if (r.rows.length === 0) exhausted = true;
          else lastToken = r.rows[r.rows.length - 1].session_token;
          page = r.rows.map((row) => row.session_token);
          loading = null;
        });
    }
    await loading;
  }
  return page.shift();
}

// Answers, written one batch at a time (in order, one statement each).
let answers = [];
let writing = Promise.resolve();
let updated = 0;
function flush() {
  const batch = answers;
  answers = [];
  if (batch.length === 0) return writing;
  writing = writing.then(async () => {
    const r = await db.query(
      `UPDATE deposit_sessions s SET state = u.state
       FROM unnest($1::text[], $2::text[]) AS u(token, state)
       WHERE s.session_token = u.token AND s.state = 'NEW'`,
      [batch.map((a) => a.token), batch.map((a) => a.state)],
    );
    updated += r.rowCount;
    for (const a of batch) report.write(`${a.token},${a.state}\n`);
  });
  return writing;
}

let checked = 0;
let errors = 0;
let pending = 0;  // answers seen, written or not
async function worker() {
  for (;;) {
    const token = await nextToken();
    if (token === null) return;
    try {
      const res = await fetch(`${GATEWAY_BASE_URL}/pgpub/session/${encodeURIComponent(token)}`, {
        headers: { 'x-api-key': GATEWAY_API_KEY, 'content-type': 'application/json' },
        signal: AbortSignal.timeout(6000),
      });
      const body = await res.json();
      checked++;
      pending++;
      if (res.ok && body.sessionState && body.sessionState !== 'NEW') {
        answers.push({ token, state: body.sessionState });
      }
      if (pending >= BATCH) {
        pending = 0;
        flush();
      }
    } catch (e) {
      errors++;
    }
  }
}

await Promise.all(Array.from({ length: CONCURRENCY }, worker));
await flush();
await writing;
await new Promise((resolve) => report.end(resolve));
await db.end();
console.log(JSON.stringify({ checked, updated, errors }));
