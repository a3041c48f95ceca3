#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this file).
# Installs what it needs (Python tools into .venv, rustfmt/clippy, the arm64
# target), then runs: formatting, lints, template checks (the transformed
# template has no dependency cycle and no key in any function's
# configuration), every Rust test (the port contract suites on both the
# embedded adapters and the AWS adapters on moto), the black-box API tests on
# both backends, again over the function binaries (each its own process, as
# on Lambda), the deploy rehearsal (the whole stack created by moto's
# CloudFormation, the smoke test on its resources), the check of every
# recorded AWS call against its function's IAM role, an arm64 Lambda build,
# and an independent JWT check.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# Every build here is from scratch on CI: incremental caches would only add
# ~4 GB to target/ (a CI run once died of a full disk).
export CARGO_INCREMENTAL=0
OUT=$ROOT/tests/out
mkdir -p "$OUT"
SUMMARY=$OUT/summary.txt
: > "$SUMMARY"
step() { printf '\n=== %s\n' "$*"; }

# A cargo pass must run at least its floor of tests (tests/floors.txt), and
# may say SKIPPED only for the tests it is not meant to run (those matching
# the pattern given; none when there is none).
check_pass() {
  local log=$1 name=$2 allowed=${3:-} passed floor skips
  passed=$(awk '/^test result: ok\./ { for (i = 1; i <= NF; i++) if ($(i+1) ~ /^passed/) p += $i } END { print p + 0 }' "$log")
  floor=$(awk -v n="$name" '$1 == n { print $2 }' "$ROOT/tests/floors.txt")
  [ -n "$floor" ] || { echo "tests/floors.txt has no floor for $name"; return 1; }
  if [ "$passed" -lt "$floor" ]; then
    echo "$name ran $passed tests, below its floor of $floor (tests/floors.txt)"; return 1
  fi
  skips=$(grep 'SKIPPED' "$log" | { if [ -n "$allowed" ]; then grep -vE "$allowed"; else cat; fi; } || true)
  if [ -n "$skips" ]; then echo "$name skipped tests it must run:"; echo "$skips"; return 1; fi
  echo "$name: $passed tests run (floor $floor), nothing skipped that should run"
}
# ... and it can fail: a pass below its floor, and one with a SKIPPED line.
printf 'test result: ok. 3 passed; 0 failed\n' > "$OUT/floor-probe.log"
if (check_pass "$OUT/floor-probe.log" cargo-test >/dev/null); then echo "check_pass accepted a shrunken pass"; exit 1; fi
printf 'test result: ok. 100000 passed; 0 failed\nSKIPPED x: y\n' > "$OUT/floor-probe.log"
if (check_pass "$OUT/floor-probe.log" cargo-test >/dev/null); then echo "check_pass accepted a skip"; exit 1; fi

step "tools"
command -v cargo >/dev/null || { echo "cargo is required: install Rust from https://rustup.rs" >&2; exit 1; }
rustup component add rustfmt clippy >/dev/null 2>&1 || true
VENV=$ROOT/.venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r tests/requirements.txt
export PATH="$VENV/bin:$PATH"
export SAM_CLI_TELEMETRY=0
# The Lambda build (Graviton) below: cargo-lambda cross-compiles with zig.
rustup target add aarch64-unknown-linux-gnu >/dev/null

step "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "template"
cfn-lint template.yaml
sam validate --lint --template template.yaml --region eu-west-1
# After the SAM transform (offline): no dependency cycle CloudFormation
# would refuse, no key material in any function's configuration; each check
# shown able to fail on the mistake it guards against.
python tests/deploy/check_template.py "$OUT" 2>&1 | grep -v 'unpublished metrics' | tee -a "$OUT/template.log"
grep -E '^template-deployable: ' "$OUT/template.log" >> "$SUMMARY"
# The deploy checks' own logic (cycle finder, IAM evaluation).
python -m unittest discover -s tests/deploy -p 'test_*.py' 2>&1 | tee "$OUT/deploy-tools.log"
sed -nE 's/^Ran ([0-9]+) tests?.*/deploy-tools: \1 passed, 0 failed/p' "$OUT/deploy-tools.log" >> "$SUMMARY"

step "one TLS stack: the posts function reaches its upstream over the SDK's rustls + aws-lc-rs"
tree=$(cargo tree -p posts -e normal --locked --prefix none | sed "s/ (\*)$//" | sort -u)
if grep -qE '^(openssl|openssl-sys|native-tls|ring|boring|boring-sys|rustls-openssl) ' <<<"$tree" \
   || [ "$(grep -cE '^rustls v' <<<"$tree")" -ne 1 ] \
   || [ "$(grep -cE '^aws-lc-rs v' <<<"$tree")" -ne 1 ]; then
  echo "the posts function links a second TLS stack or crypto provider:"; grep -iE 'tls|ssl|ring|aws-lc' <<<"$tree"; exit 1
fi
echo "tls-stack: 1 passed, 0 failed" | tee -a "$SUMMARY"

step "Lambda builds link no SQLite, no local-only code, and only the AWS clients they declare"
# What `sam build` compiles for a function: its crate alone (CodeUri is
# functions/<name>), so `cargo tree -p <name>` resolves the same features.
# The embedded adapters (`adapters-embedded`, `edge`'s `embedded` feature)
# and the dev helpers are what only `local` and `bench` turn on; a function
# asking for them would put SQLite in its Lambda. Each AWS client is behind
# an `adapters-aws` feature: a function
# links exactly the ones its Cargo.toml names (the template test checks
# those against its IAM policies; the local server enforces them).
checked=0
for dir in functions/*/; do
  fn=$(basename "$dir")
  tree=$(cargo tree -p "$fn" -e normal --prefix none --locked | sed "s/ (\*)$//" | sort -u)
  if grep -qE '^(rusqlite|libsqlite3-sys|adapters-embedded|aws-sdk-cloudformation|local|bench) ' <<<"$tree"; then
    echo "$fn links local-only code:"; grep -E '^(rusqlite|libsqlite3-sys|adapters-embedded|aws-sdk-cloudformation|local|bench) ' <<<"$tree"; exit 1
  fi
  features=$(sed -n 's/^adapters-aws = {.*features = \[\(.*\)\].*/\1/p' "$dir/Cargo.toml" | tr -d '" ' | tr ',' ' ')
  for pair in dynamodb:aws-sdk-dynamodb s3:aws-sdk-s3 sqs:aws-sdk-sqs ses:aws-sdk-sesv2 secrets:aws-sdk-secretsmanager; do
    feature=${pair%%:*} crate=${pair#*:}
    declared=no; [[ " $features " == *" $feature "* ]] && declared=yes
    linked=no; grep -qE "^$crate " <<<"$tree" && linked=yes
    [ "$declared" = "$linked" ] || { echo "$fn: feature $feature declared=$declared but $crate linked=$linked"; exit 1; }
  done
  checked=$((checked + 1))
done
# ... and the check can see SQLite and every client when they are there.
full=$(cargo tree -p local -e normal --prefix none --locked)
for crate in rusqlite adapters-embedded aws-sdk-cloudformation aws-sdk-dynamodb aws-sdk-s3 aws-sdk-sqs aws-sdk-sesv2 aws-sdk-secretsmanager; do
  grep -qE "^$crate " <<<"$full" || { echo "cargo tree no longer shows $crate for local: the check above is blind"; exit 1; }
done
echo "lambda-builds-link-what-they-declare: $checked passed, 0 failed" | tee -a "$SUMMARY"

step "moto (AWS protocol server on loopback)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
MOTO_PORT=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# moto's application, one request at a time: DynamoDB applies conditional
# writes atomically, moto's threaded server does not (see the script).
python tests/e2e/moto_serial.py "$MOTO_PORT" > "$OUT/moto.log" 2>&1 &
PIDS+=($!)
export MOTO_ENDPOINT="http://127.0.0.1:$MOTO_PORT"
# Fake credentials for moto only; nothing here can reach AWS.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing AWS_REGION=us-east-1
unset AWS_PROFILE AWS_ENDPOINT_URL
for _ in $(seq 1 100); do
  python -c "import urllib.request; urllib.request.urlopen('$MOTO_ENDPOINT/moto-api/reset', data=b'')" 2>/dev/null && break
  sleep 0.2
done
python -c "import urllib.request; urllib.request.urlopen('$MOTO_ENDPOINT/moto-api/reset', data=b'')" \
  || { echo "moto did not start:"; cat "$OUT/moto.log"; exit 1; }
echo "moto on $MOTO_ENDPOINT"
# Every AWS call every function makes from here on, for the IAM check.
export AWS_CALL_LOG=$OUT/aws-calls.jsonl
: > "$AWS_CALL_LOG"

step "Rust tests: unit, contract suites on embedded and moto, black-box API on embedded"
cargo test --workspace --locked 2>&1 | tee "$OUT/cargo-test.log"
grep -E '^test result: ' "$OUT/cargo-test.log" >> "$SUMMARY"
# The binary-mode tests say SKIPPED here: they run in the binaries pass.
check_pass "$OUT/cargo-test.log" cargo-test 'SKIPPED binaries'
grep -E '^fault suite' "$OUT/cargo-test.log" | tee -a "$OUT/fault-points.txt"

step "black-box API tests again, with every adapter on moto (TEST_BACKEND=aws)"
# Derived, not listed by hand: every suite that takes its backend from
# TEST_BACKEND (suites using on_both_backends! already ran both halves).
AWS_PASS=$(grep -lE 'selected_backend\(\)|TestServer::start(_with)?\(' local/tests/*.rs | xargs -n1 basename | sed 's/\.rs$//' | sort)
echo "moto pass: $(echo $AWS_PASS)"
TEST_BACKEND=aws cargo test --workspace --locked $(printf -- '--test %s ' $AWS_PASS) 2>&1 | tee "$OUT/cargo-test-aws.log"
grep -E '^test result: ' "$OUT/cargo-test-aws.log" >> "$SUMMARY"
check_pass "$OUT/cargo-test-aws.log" cargo-test-aws 'SKIPPED binaries'

step "black-box API tests over the function binaries (TEST_FUNCTIONS=binaries), both backends"
# Each function's binary runs as its own process under the local Lambda
# Runtime API emulator, as `--lambda` serves them: the artifacts we deploy,
# exercised end to end (debug builds: the same code as the release ones
# `sam build` makes, built in ~1 min instead of ~8). Not run this way: the
# suites that wrap the server's ports in this process (faults, guesses:
# counted argon2 verifications, contract suites, no_panic), and one test
# whose configuration no environment can express (a 2 s failure window; the
# variable's minimum is 10 s).
cargo build --workspace --bins --exclude bench --exclude local --features edge/embedded,adapters-aws/call-log --locked
BINARY_PASS="accounts avatars binaries compat consumer cors gateway pages pdf posts restart shop signup_login tasks tokens trust user_events"
echo "binary pass: $BINARY_PASS"
TEST_FUNCTIONS=binaries cargo test --workspace --locked $(printf -- '--test %s ' $BINARY_PASS) \
  -- --skip the_failure_window_expires_by_itself 2>&1 | tee "$OUT/cargo-test-binaries.log"
grep -E '^test result: ' "$OUT/cargo-test-binaries.log" >> "$SUMMARY"
check_pass "$OUT/cargo-test-binaries.log" cargo-test-binaries

step "deploy rehearsal: the transformed template as a stack on moto, then the smoke test on its resources"
# The whole stack (functions, roles, table, bucket, queues) created by
# moto's CloudFormation from the transformed template; what moto skips
# (API Gateway v2, the bucket policy) and the properties it does not apply
# are listed. The local server then runs the function binaries on the
# stack's table, bucket and queues (names from its outputs; login and
# refresh read the signing key from the stack's secret) and
# tests/smoke.sh, what a user runs after `sam deploy`, passes against it.
[ -x target/debug/local ] || cargo build -p local --locked
python tests/deploy/rehearse.py target/debug/local "$OUT/rehearsal.env" 2>&1 \
  | grep -v 'unpublished metrics' | tee "$OUT/rehearsal.log"
grep -E '^deploy-rehearsal: ' "$OUT/rehearsal.log" >> "$SUMMARY"
grep -qE '^deploy-rehearsal: [0-9]+ passed, 0 failed' "$OUT/rehearsal.log"
. tests/e2e/lib.sh
(
  . "$OUT/rehearsal.env"
  LOCAL_ARGS="--lambda-dir target/debug" start_local "$OUT/rehearsal-server.log" \
    STORE=aws AWS_ENDPOINT_URL="$MOTO_ENDPOINT" TABLE_NAME="$TABLE_NAME" BUCKET_NAME="$BUCKET_NAME" \
    QUEUE_URL="$QUEUE_URL" DEAD_LETTER_QUEUE_URL="$DEAD_LETTER_QUEUE_URL" \
    JWT_PRIVATE_KEY_SECRET="$JWT_PRIVATE_KEY_SECRET"
  bash tests/smoke.sh "$URL" | tee "$OUT/smoke-rehearsal.log"
  sed -n 's/^smoke: \([0-9]* passed\)/smoke-on-the-rehearsal-stack: \1/p' "$OUT/smoke-rehearsal.log" >> "$SUMMARY"
)

step "smoke test against the local server (embedded, as \`cargo run -p local\` starts)"
(
  start_local "$OUT/smoke-server.log"
  bash tests/smoke.sh "$URL" | tee "$OUT/smoke-embedded.log"
  sed -n 's/^smoke: \([0-9]* passed\)/smoke-embedded: \1/p' "$OUT/smoke-embedded.log" >> "$SUMMARY"
  # ... and it fails where the API is not: a wrong base URL is caught.
  if bash tests/smoke.sh "$URL/not-the-api" > "$OUT/smoke-negative.log" 2>&1; then
    echo "tests/smoke.sh passed against a URL that serves no API"; exit 1
  fi
  grep -q 'smoke: FAIL' "$OUT/smoke-negative.log"
)

step "IAM: every recorded AWS call is one its function's role allows"
# Recorded above (AWS_CALL_LOG) in the moto passes, in process and by the
# function binaries, and by the smoke test's server.
python tests/deploy/iam_check.py "$AWS_CALL_LOG" --require-binaries 2>&1 \
  | grep -v 'unpublished metrics' | tee "$OUT/iam.log"
grep -E '^iam-recorded-calls: ' "$OUT/iam.log" >> "$SUMMARY"
grep -qE '^iam-recorded-calls: [0-9]+ passed, 0 failed' "$OUT/iam.log"
unset AWS_CALL_LOG

step "Lambda build: the authorizer for arm64 with cargo-lambda, as \`sam build\` builds it"
# A broken Lambda build (cross-compilation with zig, the aarch64 flags in
# .cargo/config.toml, a dependency that will not build for Linux arm64)
# fails here rather than in a deploy. The dev profile: ~1.5 min on 2 cores;
# the release one (fat LTO) took 6 min from a clean clone, and what it adds
# is proven by tests/sam-build.sh (every function, ~28 min, not every run).
(cd functions/validate-token && cargo lambda build --arm64 --bin authorizer --locked)
# An ELF (7f 'E' 'L' 'F') for EM_AARCH64 (183 at offset 18).
python -c 'import sys; h = open(sys.argv[1], "rb").read(20); sys.exit(h[:4] != b"\x7fELF" or int.from_bytes(h[18:20], "little") != 183)' \
  target/lambda/authorizer/bootstrap || { echo "target/lambda/authorizer/bootstrap is not an aarch64 ELF"; exit 1; }
echo "lambda-build-arm64: 1 passed, 0 failed" | tee -a "$SUMMARY"

step "cargo-lambda: watch serves the functions, invoke runs every sample in events/"
OUT=$OUT bash tests/e2e/cargo-lambda.sh | tee -a "$SUMMARY"

step "OpenAPI: the committed document validates"
openapi-spec-validator openapi.json

step "schemathesis: every operation, no 5xx, no schema or status violation"
bash tests/e2e/schemathesis.sh 2>&1 | tee "$OUT/schemathesis.log"
grep -E 'generated, [0-9]+ passed' "$OUT/schemathesis.log" | sed -E 's/.* ([0-9]+) passed.*/schemathesis: \1 passed, 0 failed/' >> "$SUMMARY"

step "docs page in headless Chromium"
bash tests/e2e/docs-page.sh | tee -a "$SUMMARY"

step "hosted pages in headless Chromium (Playwright, axe-core), embedded and moto"
PYTHON=python bash tests/e2e/pages.sh | tee -a "$SUMMARY"

step "independent JWT check (PyJWT against the running local server)"
# `cargo test` above already built target/debug/local with the test feature set.
(
  start_local "$OUT/local-server.log"
  python tests/e2e/independent_jwt.py "$URL" | tee -a "$SUMMARY"
)

step "summary"
awk '
  /test result: ok\./ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
  /[0-9]+ passed, [0-9]+ failed/ && !/test result/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
  END { printf "all: %d passed, %d failed\n", p, f }
' "$SUMMARY"
