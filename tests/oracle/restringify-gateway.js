// A stand-in for a gateway written the common Node way, as an independent check of what we send:
// it parses the POST body and checks x-payload-hash against HMAC-SHA512 of
// JSON.stringify(JSON.parse(body)), base64 (the API page's recipe), so a body that is not
// byte-identical to JSON.stringify's output fails with errorHmacDoesNotMatch even though its
// JSON means the same thing. It also records what it received.
//
//   node restringify-gateway.js PORT API_KEY HMAC_SECRET LOG_FILE
//
// POST /pgpub/session -> 200 {"sessionToken","checkOutUrl"} or 401/415 {"errorCode","field",
// "message"}; every request is appended to LOG_FILE as one JSON line {body, restringified, ok}.
'use strict';
const http = require('http');
const crypto = require('crypto');
const fs = require('fs');

const [port, apiKey, secret, logFile] = process.argv.slice(2);
let counter = 0;

const reply = (res, status, obj) => {
  res.writeHead(status, {'content-type': 'application/json'});
  res.end(JSON.stringify(obj));
};

http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks).toString('utf8');
    if (req.method !== 'POST' || req.url !== '/pgpub/session') {
      return reply(res, 404, {errorCode: 'errorNotFound', field: null, message: 'no route'});
    }
    if (req.headers['x-api-key'] !== apiKey) {
      return reply(res, 401, {errorCode: 'errorApiKeyInvalid', field: 'x-api-key', message: 'bad key'});
    }
    if (!/^application\/json\b/i.test(req.headers['content-type'] || '')) {
      return reply(res, 415, {errorCode: 'errorUnsupportedMediaType', field: 'content-type',
                              message: 'content-type must be application/json'});
    }
    let restringified = null;
    try {
      restringified = JSON.stringify(JSON.parse(raw));
    } catch (e) {
      return reply(res, 400, {errorCode: 'errorValidation', field: null, message: 'not JSON'});
    }
    const expected = crypto.createHmac('sha512', secret).update(restringified).digest('base64');
    const ok = req.headers['x-payload-hash'] === expected;
    fs.appendFileSync(logFile, JSON.stringify({body: raw, restringified, ok}) + '\n');
    if (!ok) {
      return reply(res, 401, {errorCode: 'errorHmacDoesNotMatch', field: 'x-payload-hash',
                              message: 'hash of JSON.stringify(body) does not match'});
    }
    const token = 'node-' + (++counter);
    reply(res, 200, {sessionToken: token, checkOutUrl: `http://127.0.0.1:${port}/checkout/${token}`});
  });
}).listen(Number(port), '127.0.0.1');
