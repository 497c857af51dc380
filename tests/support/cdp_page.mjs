// Opens one page in headless Chromium and evaluates expressions in it, over the DevTools
// protocol on a pipe (--remote-debugging-pipe: no port, no WebSocket library needed).
//
//   node cdp_page.mjs '{"chromium": "/usr/bin/chromium", "url": "file:///...", "width": 1400,
//                      "height": 900, "timeout_ms": 20000, "expressions": ["1 + 1", ...]}'
//
// Each expression is evaluated after the load event, in order, awaiting a promise it returns;
// stdout gets one JSON object: {"results": [value, ...]} (or {"error": "..."} and exit 1).
// Used by the browser test and by bench/report-browser-bench.sh.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const config = JSON.parse(process.argv[2]);
const profile = mkdtempSync(join(tmpdir(), 'dr-cdp-'));
const chrome = spawn(config.chromium || '/usr/bin/chromium', [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--hide-scrollbars', '--host-resolver-rules=MAP * ~NOTFOUND', '--remote-debugging-pipe',
  `--user-data-dir=${profile}`, 'about:blank',
], { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] });

let nextId = 1;
const pending = new Map();
const waiters = [];
let buffer = Buffer.alloc(0);
chrome.stdio[4].on('data', (chunk) => {
  buffer = Buffer.concat([buffer, chunk]);
  for (let end = buffer.indexOf(0); end !== -1; end = buffer.indexOf(0)) {
    const message = JSON.parse(buffer.subarray(0, end).toString('utf8'));
    buffer = buffer.subarray(end + 1);
    if (message.id !== undefined && pending.has(message.id)) {
      const { resolve, reject } = pending.get(message.id);
      pending.delete(message.id);
      if (message.error) reject(new Error(JSON.stringify(message.error)));
      else resolve(message.result);
    } else if (message.method) {
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i].method === message.method) {
          waiters[i].resolve(message.params);
          waiters.splice(i, 1);
        }
      }
    }
  }
});

function send(method, params = {}, sessionId = undefined) {
  const id = nextId++;
  const message = { id, method, params };
  if (sessionId) message.sessionId = sessionId;
  chrome.stdio[3].write(JSON.stringify(message) + '\0');
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
}
const event = (method) => new Promise((resolve) => waiters.push({ method, resolve }));

function finish(code, output) {
  process.stdout.write(JSON.stringify(output) + '\n');
  chrome.kill('SIGKILL');
  try { rmSync(profile, { recursive: true, force: true }); } catch (e) { /* best effort */ }
  process.exit(code);
}

const timer = setTimeout(() => finish(1, { error: 'timed out' }), config.timeout_ms || 20000);

try {
  const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
  await send('Emulation.setDeviceMetricsOverride', {
    width: config.width || 1280, height: config.height || 900, deviceScaleFactor: 1,
    mobile: (config.width || 1280) < 600,
  }, sessionId);
  await send('Page.enable', {}, sessionId);
  const loaded = event('Page.loadEventFired');
  await send('Page.navigate', { url: config.url }, sessionId);
  await loaded;
  const results = [];
  for (const expression of config.expressions || []) {
    const r = await send('Runtime.evaluate',
      { expression, awaitPromise: true, returnByValue: true }, sessionId);
    if (r.exceptionDetails) {
      throw new Error(`${expression}: ${JSON.stringify(r.exceptionDetails.exception ?? r.exceptionDetails)}`);
    }
    results.push(r.result.value === undefined ? null : r.result.value);
  }
  clearTimeout(timer);
  finish(0, { results });
} catch (e) {
  finish(1, { error: String(e.message || e) });
}
