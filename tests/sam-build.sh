#!/usr/bin/env bash
# Proves the deployment builds: `sam validate --lint` and `sam build` with
# cargo-lambda (from PyPI) cross-compiling every function for arm64 with zig.
# Slow (a release build per function), so it is not part of every CI run.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=$PWD/.venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r tests/requirements.txt cargo-lambda ziglang
export PATH="$VENV/bin:$PATH" SAM_CLI_TELEMETRY=0
rustup target add aarch64-unknown-linux-gnu
sam validate --lint --template template.yaml --region eu-west-1
sam build --beta-features --template template.yaml
for f in .aws-sam/build/*Function; do
  [ -f "$f/bootstrap" ] || { echo "missing $f/bootstrap" >&2; exit 1; }
  printf '%-32s %s\n' "$(basename "$f")" "$(file -b "$f/bootstrap" | cut -d, -f1-2)"
done
echo "sam build: every function has an arm64 bootstrap"
