#!/usr/bin/env bash
# Property-based API testing: schemathesis explores every operation of
# /openapi.json against a fresh local server, authenticated as an admin
# (st_hooks.py), and fails on any 5xx, any response that breaks its schema,
# any undocumented status code or content type.
#
# Each run draws its own seed and prints it; every operation must reach a
# 2xx at least once (a success path never explored is a gap), but for the
# ones NO_SUCCESS names with the reason.
#
#   bash tests/e2e/schemathesis.sh            # the CI run (20 examples/operation)
#   ST_EXAMPLES=500 bash tests/e2e/schemathesis.sh   # a longer run for humans
#   ST_SEED=1234 bash tests/e2e/schemathesis.sh      # replays a run's seed
# Needs the tools of tests/requirements.txt (tests/run-all.sh installs them)
# and target/debug/local (cargo build -p local).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=tests/out
mkdir -p "$OUT"
. tests/e2e/lib.sh
export ADMIN_EMAILS=st-admin@example.com ST_ADMIN_EMAIL=st-admin@example.com
# The run guesses passwords on purpose; keep the lock-out out of its way.
start_local "$OUT/schemathesis-server.log" LOGIN_MAX_FAILURES_PER_ACCOUNT=1000000 LOGIN_MAX_FAILURES_PER_IP=1000000 \
  LOGIN_MAX_FAILURES_PER_CLIENT=1000000 SIGNUPS_PER_IP_PER_HOUR=1000000 RESETS_PER_EMAIL_PER_HOUR=1000000 \
  RESETS_PER_IP_PER_HOUR=1000000 VERIFICATION_MAILS_PER_HOUR=1000000
# One worker: hypothesis's lambda introspection is not thread-safe on CPython 3.11.
SEED=${ST_SEED:-$(python -c 'import secrets; print(secrets.randbelow(2**31))')}
echo "schemathesis seed: $SEED (ST_SEED=$SEED bash tests/e2e/schemathesis.sh replays this run)"
STATUS_FILE=$OUT/schemathesis-statuses.json
rm -f "$STATUS_FILE"
ST_MAIL_DIR="$DATA/mail" ST_STATUS_FILE=$STATUS_FILE ST_BASE_URL="$URL" SCHEMATHESIS_HOOKS=st_hooks PYTHONPATH=tests/e2e schemathesis run "$URL/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "${ST_EXAMPLES:-20}" --workers 1 --seed "$SEED" \
  --report junit --report-dir "$OUT/schemathesis"

# How many cases reached a 2xx, per operation (an operation that never
# succeeds was only ever refused: its success path went unexplored).
python - "$STATUS_FILE" "$URL/openapi.json" <<'PY'
import json, sys, urllib.request
# Reached only after a lock-out, which this run's limits switch off.
NO_SUCCESS = {"POST /auth/login/link": "its token is mailed after a lock-out; local/tests/lockout.rs covers it"}
counts = json.load(open(sys.argv[1]))
# The document itself: schemathesis reads it before any case (urlopen
# raises on anything but a 2xx).
with urllib.request.urlopen(sys.argv[2]) as answer:
    spec = json.load(answer)
    counts.setdefault("GET /openapi.json", {}).setdefault(str(answer.status), 0)
    counts["GET /openapi.json"][str(answer.status)] += 1
documented = {f"{m.upper()} {p}" for p, item in spec["paths"].items() for m in item
              if m in ("get", "put", "post", "patch", "delete")}
print(f"{'operation':<42} {'cases':>6} {'2xx':>6}  statuses")
never = []
for op in sorted(documented | set(counts)):
    by_status = counts.get(op, {})
    total = sum(by_status.values())
    ok = sum(n for s, n in by_status.items() if s.startswith("2"))
    print(f"{op:<42} {total:>6} {ok:>6}  {dict(sorted(by_status.items()))}")
    if ok == 0 and op not in NO_SUCCESS:
        never.append(op)
if never:
    print(f"never answered with a 2xx: {', '.join(never)}")
    sys.exit(1)
print(f"every operation reached a 2xx but {len(NO_SUCCESS)} named: " + "; ".join(f"{k} ({v})" for k, v in NO_SUCCESS.items()))
PY
