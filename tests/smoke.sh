#!/usr/bin/env bash
# After `sam deploy`: is the API up and wired as it should be?
#
#   bash tests/smoke.sh https://abc123.execute-api.eu-west-1.amazonaws.com
#
# Signs up a throwaway account (smoke-<random>@example.com: a reserved
# domain, so no mail reaches anyone), logs in, calls a protected route
# through the Lambda authorizer (with and without the token), checks that
# the token's key is in the published JWKS and that the OpenAPI document and
# the hosted pages are served, signs in as the pages do (the refresh token as
# a cookie), then deletes the account and checks it is gone. Each step prints
# one line; the first failure stops it with the answer it got. Needs curl and
# python3. The test command runs it against the local server on the deploy
# rehearsal's stack (tests/run-all.sh).
set -euo pipefail
BASE=${1:?usage: tests/smoke.sh BASE_URL}
BASE=${BASE%/}
PASSWORD="smoke test lantern $RANDOM$RANDOM"
EMAIL="smoke-$(date +%s)-$RANDOM@example.com"
PASSED=0
BODY=$(mktemp)
trap 'rm -f "$BODY"' EXIT

# call METHOD PATH [JSON] [TOKEN]: sets STATUS, the body in $BODY.
call() {
  local args=(-s -o "$BODY" -w '%{http_code}' -X "$1" "$BASE$2" --max-time 30)
  [ -n "${3:-}" ] && args+=(-H 'content-type: application/json' --data "$3")
  [ -n "${4:-}" ] && args+=(-H "authorization: Bearer $4")
  STATUS=$(curl "${args[@]}") || STATUS=000
}
# json EXPRESSION: evaluates a Python expression over the body (as `b`).
json() {
  python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$BODY" "$1"
}
ok() { PASSED=$((PASSED + 1)); printf 'smoke: ok   %s\n' "$1"; }
fail() {
  printf 'smoke: FAIL %s (HTTP %s)\n' "$1" "$STATUS" >&2
  head -c 2000 "$BODY" >&2 || true
  echo >&2
  echo "smoke: $PASSED passed, 1 failed"
  exit 1
}
expect() { [ "$STATUS" = "$1" ] || fail "$2: expected HTTP $1"; }

call GET /health
expect 200 "GET /health"
ok "health: $(json 'b.get("status")')"

call GET /.well-known/jwks.json
expect 200 "GET /.well-known/jwks.json"
KIDS=$(json '" ".join(k["kid"] for k in b["keys"] if k.get("kty") == "OKP" and k.get("crv") == "Ed25519")')
[ -n "$KIDS" ] || fail "the JWKS has no Ed25519 key"
ok "JWKS publishes $(wc -w <<<"$KIDS") Ed25519 key(s)"

call GET /openapi.json
expect 200 "GET /openapi.json"
PATHS=$(json 'len(b["paths"]) if str(b.get("openapi","")).startswith("3.") else 0')
[ "$PATHS" -gt 0 ] || fail "/openapi.json is not an OpenAPI 3 document"
ok "OpenAPI document: $PATHS paths"

HEADERS=$(mktemp)
trap 'rm -f "$BODY" "$HEADERS"' EXIT
STATUS=$(curl -s -D "$HEADERS" -o "$BODY" -w '%{http_code}' --max-time 30 "$BASE/login") || STATUS=000
expect 200 "GET /login"
grep -qiE "^content-security-policy: default-src 'none';.*frame-ancestors 'none'" "$HEADERS" \
  || fail "the sign-in page has no strict Content-Security-Policy"
grep -q 'data-page="login"' "$BODY" || fail "GET /login is not the sign-in page"
call GET /assets/app.js
expect 200 "GET /assets/app.js"
ok "the hosted pages: the sign-in page, its policy and its script"

call POST /auth/signup "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\",\"name\":\"Smoke\"}"
expect 201 "sign up $EMAIL"
ok "signed up $EMAIL"

call POST /auth/login "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}"
expect 200 "log in"
TOKEN=$(json 'b["access_token"]')
KID=$(python3 -c 'import base64,json,sys; h=sys.argv[1].split(".")[0]; print(json.loads(base64.urlsafe_b64decode(h+"="*(-len(h)%4)))["kid"])' "$TOKEN")
[[ " $KIDS " == *" $KID "* ]] || fail "the token's kid $KID is not in the JWKS"
ok "logged in; the token's kid is published"

# The pages' sign-in: the refresh token as an HttpOnly cookie, spent from it.
STATUS=$(curl -s -D "$HEADERS" -o "$BODY" -w '%{http_code}' --max-time 30 -X POST "$BASE/auth/login" \
  -H 'content-type: application/json' -H 'x-refresh-cookie: 1' \
  --data "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}") || STATUS=000
expect 200 "POST /auth/login in cookie mode"
COOKIE=$(grep -i '^set-cookie: up_refresh=' "$HEADERS" | head -1 | sed -E 's/^[^:]*: *(up_refresh=[^;]*);.*/\1/' | tr -d '\r')
grep -qi '^set-cookie: up_refresh=.*HttpOnly' "$HEADERS" || fail "no HttpOnly refresh cookie"
[ "$(json '"refresh_token" in b')" = False ] || fail "cookie mode answered the refresh token in the body"
STATUS=$(curl -s -o "$BODY" -w '%{http_code}' --max-time 30 -X POST "$BASE/auth/refresh" \
  -H 'content-type: application/json' -H 'x-refresh-cookie: 1' -H "cookie: $COOKIE" --data '{}') || STATUS=000
expect 200 "POST /auth/refresh from the cookie"
ok "the pages' sign-in: an HttpOnly refresh cookie, refreshed from"

call GET /auth/me "" "$TOKEN"
expect 200 "GET /auth/me with the token (through the authorizer)"
[ "$(json 'b["email"]')" = "$EMAIL" ] || fail "GET /auth/me answered another account"
ok "the authorizer let the token through to /auth/me"

call GET /auth/me
expect 401 "GET /auth/me without a token"
ok "without a token: 401"

call GET /auth/me "" "$TOKEN.x"
[ "$STATUS" = 401 ] || [ "$STATUS" = 403 ] || fail "GET /auth/me with a broken token"
ok "with a broken token: $STATUS"

call DELETE /users/me "{\"password\":\"$PASSWORD\"}" "$TOKEN"
expect 204 "delete the account"
ok "deleted the account"

call POST /auth/login "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}"
expect 401 "log in after deleting"
ok "the account is gone"

echo "smoke: $PASSED passed, 0 failed"
