#!/usr/bin/env bash
# Regenerates hmac-vectors.tsv: for each (key, body) pair, base64(HMAC-SHA512) computed twice,
# by `openssl dgst -sha512 -hmac KEY -binary | base64 -w0` and by Node's
# crypto.createHmac('sha512', key).update(body).digest('base64') (the gateway's sample client).
# The test checks our signer against both columns. Columns: key, body, openssl, node (TAB separated;
# keys and bodies here contain no tabs or newlines).
set -euo pipefail
cd "$(dirname "$0")"
out=hmac-vectors.tsv
: >"$out"
while IFS=$'\t' read -r key body; do
  o=$(printf '%s' "$body" | openssl dgst -sha512 -hmac "$key" -binary | base64 -w0)
  n=$(node -e 'const c=require("crypto");process.stdout.write(c.createHmac("sha512",process.argv[1]).update(process.argv[2]).digest("base64"))' "$key" "$body")
  printf '%s\t%s\t%s\t%s\n' "$key" "$body" "$o" "$n" >>"$out"
done <<'PAIRS'
YOUR HMAC SECRET Key	{"userId":"YOUR_UNIQUE_USER_ID","userName":"YOUR_USER_NAME","userNameSurname":"THE_NAME_AND_SURNAME_OF_YOUR_USER","sessionDefaultLanguage":"en","sessionDefaultFiatCurrency":"USD","minPaymentAmountInUSD":0.5}
sim-hmac-secret	{"userId":"u-1","userName":"Ada"}
k3y-with-ünïcödé	{"userId":"42","userName":"Zoë 東京 ✓","userEmail":"zoe@example.com","maxPaymentAmountInUSD":100}
short	{}
PAIRS
echo "wrote $out"
