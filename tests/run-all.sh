#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this file).
# Installs what it needs (Python tools into .venv, rustfmt/clippy), then runs:
# formatting, lints, template checks, every Rust test on the embedded store,
# the AWS adapters and auth flows against moto, and an independent JWT check.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
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

step "Rust tests (embedded adapters)"
cargo test --workspace --locked 2>&1 | tee "$OUT/cargo-test-embedded.log"
grep -E '^test result: ' "$OUT/cargo-test-embedded.log" >> "$SUMMARY"

step "independent JWT check (PyJWT against the running local server)"
cargo build -p local --locked
DATA=$(mktemp -d)
./target/debug/local --port 0 --data-dir "$DATA" > "$OUT/local-server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  URL=$(grep -oE 'listening on http://[0-9.:]+' "$OUT/local-server.log" | awk '{print $3}' || true)
  [ -n "$URL" ] && break
  sleep 0.1
done
[ -n "$URL" ] || { cat "$OUT/local-server.log"; exit 1; }
python tests/e2e/independent_jwt.py "$URL" | tee -a "$SUMMARY"
kill $SERVER; trap - EXIT

step "summary"
awk '
  /test result: ok\./ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
  /[0-9]+ passed, [0-9]+ failed/ && !/test result/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
  END { printf "all: %d passed, %d failed\n", p, f }
' "$SUMMARY"
