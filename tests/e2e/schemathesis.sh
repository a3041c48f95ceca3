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
. tests/e2e/lib.sh
export ADMIN_EMAILS=st-admin@example.com ST_ADMIN_EMAIL=st-admin@example.com
# The run guesses passwords on purpose; keep the lock-out out of its way.
start_local "$OUT/schemathesis-server.log" LOGIN_MAX_FAILURES_PER_ACCOUNT=1000000 LOGIN_MAX_FAILURES_PER_IP=1000000
# One worker: hypothesis's lambda introspection is not thread-safe on CPython 3.11.
ST_BASE_URL="$URL" SCHEMATHESIS_HOOKS=st_hooks PYTHONPATH=tests/e2e schemathesis run "$URL/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "${ST_EXAMPLES:-20}" --workers 1 --seed "${ST_SEED:-20261124}" \
  --report junit --report-dir "$OUT/schemathesis"
