#!/usr/bin/env bash
# cargo-lambda as the people we build for use it: `cargo lambda watch` serves
# every function binary on its own Runtime API emulator (embedded store in a
# fresh folder), and `cargo lambda invoke --data-file events/<sample>.json`
# runs every sample in events/ through its function, in name order on one
# fresh store. Each answer must be the one tests/e2e/cargo-lambda-expected.txt
# names for it (an HTTP sample's exact status; the authorizer's verdict, the
# consumer's batch report, the relay's count), and the invoke must succeed.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v cargo-lambda >/dev/null || { echo "cargo-lambda is not installed (pip install cargo-lambda)" >&2; exit 1; }
OUT=${OUT:-tests/out}
mkdir -p "$OUT"
DATA=$(mktemp -d)
PORT=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The embedded store; the posts samples read a loopback upstream that is not
# there, which the feed answers with its documented 503.
env -u MOTO_ENDPOINT -u AWS_ENDPOINT_URL -u TABLE_NAME \
  cargo lambda watch --features edge/embedded --invoke-address 127.0.0.1 --invoke-port "$PORT" \
  --env-vars "STORE=embedded,DATA_DIR=$DATA,POSTS_API_URL=http://127.0.0.1:9/posts,RUST_LOG=warn" \
  > "$OUT/cargo-lambda-watch.log" 2>&1 &
WATCH=$!
trap 'kill $WATCH 2>/dev/null || true; pkill -P $WATCH 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 1 300); do
  python -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" 2>/dev/null && break
  sleep 0.2
done

# Which function each sample belongs to: the template's routes, and the
# non-HTTP samples by name.
python - > "$OUT/cargo-lambda-samples.txt" <<'PY'
import json, pathlib, yaml

class Loader(yaml.SafeLoader):
    pass
Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
template = yaml.load(open("template.yaml"), Loader=Loader)
routes = {}
for resource in template["Resources"].values():
    if resource.get("Type") != "AWS::Serverless::Function":
        continue
    binary = resource["Metadata"]["BuildProperties"]["Binary"]
    for event in (resource["Properties"].get("Events") or {}).values():
        if event["Type"] == "HttpApi":
            p = event["Properties"]
            routes[f'{p["Method"]} {p["Path"]}'] = binary
by_name = {"authorizer.json": "authorizer", "user-events.json": "user-events",
           "outbox-relay.json": "outbox-relay", "media-process.json": "media-process"}
for path in sorted(pathlib.Path("events").glob("*.json")):
    event = json.loads(path.read_text())
    function = by_name.get(path.name) or routes[event["routeKey"]]
    print(function, path)
PY

passed=0
failed=0
EXPECTED=tests/e2e/cargo-lambda-expected.txt
while read -r function sample; do
  expected=$(awk -v s="$(basename "$sample")" '!/^#/ && $1 == s { print $2 }' "$EXPECTED")
  if answer=$(cargo lambda invoke "$function" --invoke-address 127.0.0.1 --invoke-port "$PORT" \
    --data-file "$sample" --output-format json 2>>"$OUT/cargo-lambda-invoke.log"); then rc=0; else rc=$?; fi
  verdict=$(ANSWER="$answer" FUNCTION="$function" EXPECTED="$expected" RC="$rc" python - <<'PY'
import json, os
if os.environ["RC"] != "0":
    print(f"the invoke failed (exit {os.environ['RC']})"); raise SystemExit
expected = os.environ["EXPECTED"]
if not expected:
    print("no expected answer in tests/e2e/cargo-lambda-expected.txt"); raise SystemExit
try:
    a = json.loads(os.environ["ANSWER"])
except ValueError:
    print("no JSON answer"); raise SystemExit
if expected == "denied":                          # the sample's token is not ours
    ok = isinstance(a, dict) and a.get("isAuthorized") is False
elif expected.startswith("batch:"):
    ok = isinstance(a, dict) and isinstance(a.get("batchItemFailures"), list) \
        and len(a["batchItemFailures"]) == int(expected[len("batch:"):])
elif expected == "relay":
    ok = isinstance(a, dict) and isinstance(a.get("sent"), int)
elif expected == "no-answer":
    ok = a is None or a == {}
else:
    ok = isinstance(a, dict) and a.get("statusCode") == int(expected)
print("ok" if ok else f"expected {expected}, got: {json.dumps(a)[:300]}")
PY
)
  if [ "$verdict" = ok ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "cargo lambda invoke $function --data-file $sample: $verdict" >&2
  fi
done < "$OUT/cargo-lambda-samples.txt"
echo "cargo-lambda: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
