#!/usr/bin/env bash
# Property-based API testing: schemathesis explores every operation of
# /openapi.json against a fresh local server, authenticated as an admin
# (st_hooks.py), and fails on any 5xx, any response that breaks its schema,
# any undocumented status code or content type.
#
#   bash tests/e2e/schemathesis.sh            # the CI run (20 examples/operation)
#   ST_EXAMPLES=500 bash tests/e2e/schemathesis.sh   # a longer run for humans
# Needs the tools of tests/requirements.txt (tests/run-all.sh installs them)
# and target/debug/local (cargo build -p local).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=tests/out
mkdir -p "$OUT"
DATA=$(mktemp -d)
export ADMIN_EMAILS=st-admin@example.com ST_ADMIN_EMAIL=st-admin@example.com
# The run guesses passwords on purpose; keep the lock-out out of its way.
export LOGIN_MAX_FAILURES_PER_ACCOUNT=1000000 LOGIN_MAX_FAILURES_PER_IP=1000000
env -u MOTO_ENDPOINT -u AWS_ENDPOINT_URL -u TABLE_NAME ./target/debug/local --port 0 --data-dir "$DATA" > "$OUT/schemathesis-server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
URL=""
for _ in $(seq 1 200); do
  URL=$(grep -oE 'listening on http://[0-9.:]+' "$OUT/schemathesis-server.log" | awk '{print $3}' || true)
  [ -n "$URL" ] && break
  sleep 0.1
done
[ -n "$URL" ] || { cat "$OUT/schemathesis-server.log"; exit 1; }
# One worker: hypothesis's lambda introspection is not thread-safe on CPython 3.11.
ST_BASE_URL="$URL" SCHEMATHESIS_HOOKS=st_hooks PYTHONPATH=tests/e2e schemathesis run "$URL/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "${ST_EXAMPLES:-20}" --workers 1 --seed "${ST_SEED:-20261124}" \
  --report junit --report-dir "$OUT/schemathesis"
