#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this file).
# Installs what it needs (Python tools into .venv, rustfmt/clippy), then runs:
# formatting, lints, template checks, every Rust test (the port contract suites
# on both the embedded adapters and the AWS adapters on moto), the black-box API
# tests on both backends, again over the function binaries (each its own
# process, as on Lambda), and an independent JWT check.
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

step "tools"
command -v cargo >/dev/null || { echo "cargo is required: install Rust from https://rustup.rs" >&2; exit 1; }
rustup component add rustfmt clippy >/dev/null 2>&1 || true
VENV=$ROOT/.venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r tests/requirements.txt
export PATH="$VENV/bin:$PATH"
export SAM_CLI_TELEMETRY=0

step "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "template"
cfn-lint template.yaml
sam validate --lint --template template.yaml --region eu-west-1

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
# The embedded adapters and the dev helpers are `shared` features only
# `local` and `bench` turn on; a function asking for them would put SQLite
# in its Lambda. Each AWS client is behind a `shared` feature: a function
# links exactly the ones its Cargo.toml names (the template test checks
# those against its IAM policies; the local server enforces them).
checked=0
for dir in functions/*/; do
  fn=$(basename "$dir")
  tree=$(cargo tree -p "$fn" -e normal --prefix none --locked | sed "s/ (\*)$//" | sort -u)
  if grep -qE '^(rusqlite|libsqlite3-sys|local|bench) ' <<<"$tree"; then
    echo "$fn links local-only code:"; grep -E '^(rusqlite|libsqlite3-sys|local|bench) ' <<<"$tree"; exit 1
  fi
  features=$(sed -n 's/^shared = {.*features = \[\(.*\)\].*/\1/p' "$dir/Cargo.toml" | tr -d '" ' | tr ',' ' ')
  for pair in dynamodb:aws-sdk-dynamodb s3:aws-sdk-s3 sqs:aws-sdk-sqs ses:aws-sdk-sesv2; do
    feature=${pair%%:*} crate=${pair#*:}
    declared=no; [[ " $features " == *" $feature "* ]] && declared=yes
    linked=no; grep -qE "^$crate " <<<"$tree" && linked=yes
    [ "$declared" = "$linked" ] || { echo "$fn: feature $feature declared=$declared but $crate linked=$linked"; exit 1; }
  done
  checked=$((checked + 1))
done
# ... and the check can see SQLite and every client when they are there.
full=$(cargo tree -p local -e normal --prefix none --locked)
for crate in rusqlite aws-sdk-dynamodb aws-sdk-s3 aws-sdk-sqs aws-sdk-sesv2; do
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

step "Rust tests: unit, contract suites on embedded and moto, black-box API on embedded"
cargo test --workspace --locked 2>&1 | tee "$OUT/cargo-test.log"
grep -E '^test result: ' "$OUT/cargo-test.log" >> "$SUMMARY"
grep -E '^fault suite' "$OUT/cargo-test.log" | tee -a "$OUT/fault-points.txt"

step "black-box API tests again, with every adapter on moto (TEST_BACKEND=aws)"
# Derived, not listed by hand: every suite that takes its backend from
# TEST_BACKEND (suites using on_both_backends! already ran both halves).
AWS_PASS=$(grep -lE 'selected_backend\(\)|TestServer::start(_with)?\(' local/tests/*.rs | xargs -n1 basename | sed 's/\.rs$//' | sort)
echo "moto pass: $(echo $AWS_PASS)"
TEST_BACKEND=aws cargo test --workspace --locked $(printf -- '--test %s ' $AWS_PASS) 2>&1 | tee "$OUT/cargo-test-aws.log"
grep -E '^test result: ' "$OUT/cargo-test-aws.log" >> "$SUMMARY"

step "black-box API tests over the function binaries (TEST_FUNCTIONS=binaries), both backends"
# Each function's binary runs as its own process under the local Lambda
# Runtime API emulator, as `--lambda` serves them: the artifacts we deploy,
# exercised end to end (debug builds: the same code as the release ones
# `sam build` makes, built in ~1 min instead of ~8). Not run this way: the
# suites that wrap the server's ports in this process (faults, guesses:
# counted argon2 verifications, contract suites, no_panic), and one test
# whose configuration no environment can express (a 2 s failure window; the
# variable's minimum is 10 s).
cargo build --workspace --bins --exclude bench --exclude local --features shared/embedded --locked
BINARY_PASS="accounts avatars binaries compat consumer gateway pdf posts restart shop signup_login tasks tokens trust user_events"
echo "binary pass: $BINARY_PASS"
TEST_FUNCTIONS=binaries cargo test --workspace --locked $(printf -- '--test %s ' $BINARY_PASS) \
  -- --skip the_failure_window_expires_by_itself 2>&1 | tee "$OUT/cargo-test-binaries.log"
grep -E '^test result: ' "$OUT/cargo-test-binaries.log" >> "$SUMMARY"

step "cargo-lambda: watch serves the functions, invoke runs every sample in events/"
OUT=$OUT bash tests/e2e/cargo-lambda.sh | tee -a "$SUMMARY"

step "OpenAPI: the committed document validates"
openapi-spec-validator openapi.json

step "schemathesis: every operation, no 5xx, no schema or status violation"
bash tests/e2e/schemathesis.sh 2>&1 | tee "$OUT/schemathesis.log"
grep -E 'generated, [0-9]+ passed' "$OUT/schemathesis.log" | sed -E 's/.* ([0-9]+) passed.*/schemathesis: \1 passed, 0 failed/' >> "$SUMMARY"

step "docs page in headless Chromium"
bash tests/e2e/docs-page.sh | tee -a "$SUMMARY"

step "independent JWT check (PyJWT against the running local server)"
# `cargo test` above already built target/debug/local with the test feature set.
[ -x target/debug/local ] || cargo build -p local --locked
. tests/e2e/lib.sh
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
