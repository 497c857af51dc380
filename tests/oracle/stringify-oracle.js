// The independent oracle for tests/unit/gateway_json_node_test.cc: what the gateway's own sample
// client (gateway-api.txt: JSON.stringify, then crypto.createHmac('sha512', secret)...digest
// ('base64')) sends for the same object. It never sees our JSON: every value arrives as hex.
//
//   node stringify-oracle.js payloads IN OUT   IN: per line, TAB-separated name=hex fields; a
//       string field's hex is its UTF-8 bytes, a number field's hex is its IEEE-754 bits (big
//       endian), "secret=hex" is the HMAC key. OUT: per line base64(body) TAB hmac.
//   node stringify-oracle.js numbers IN OUT    IN: one IEEE-754 hex per line. OUT: JSON.stringify
//       of that number per line.
'use strict';
const fs = require('fs');
const crypto = require('crypto');

const [mode, inPath, outPath] = process.argv.slice(2);
// Key order of the page's sample object literal; the fields the sample does not show follow the
// API page's field list (userEmail after userNameSurname; maxPaymentAmountInUSD after
// minPaymentAmountInUSD; redirectUrl last).
const ORDER = ['userId', 'userName', 'userNameSurname', 'userEmail', 'sessionDefaultLanguage',
               'sessionDefaultFiatCurrency', 'minPaymentAmountInUSD', 'maxPaymentAmountInUSD',
               'redirectUrl'];
const NUMBERS = new Set(['minPaymentAmountInUSD', 'maxPaymentAmountInUSD']);

const number = (hex) => Buffer.from(hex, 'hex').readDoubleBE(0);
const lines = fs.readFileSync(inPath, 'latin1').split('\n').filter((l) => l.length > 0);
const out = [];
if (mode === 'numbers') {
  for (const l of lines) out.push(JSON.stringify(number(l)));
} else if (mode === 'payloads') {
  for (const l of lines) {
    const fields = new Map();
    for (const kv of l.split('\t')) {
      const eq = kv.indexOf('=');
      fields.set(kv.slice(0, eq), kv.slice(eq + 1));
    }
    const obj = {};
    for (const k of ORDER) {
      if (!fields.has(k)) continue;
      const hex = fields.get(k);
      obj[k] = NUMBERS.has(k) ? number(hex) : Buffer.from(hex, 'hex').toString('utf8');
    }
    const body = JSON.stringify(obj);
    const secret = Buffer.from(fields.get('secret'), 'hex').toString('utf8');
    const hash = crypto.createHmac('sha512', secret).update(body).digest('base64');
    out.push(Buffer.from(body, 'utf8').toString('base64') + '\t' + hash);
  }
} else {
  process.stderr.write('usage: stringify-oracle.js payloads|numbers IN OUT\n');
  process.exit(2);
}
fs.writeFileSync(outPath, out.join('\n') + '\n');
