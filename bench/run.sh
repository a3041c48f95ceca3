#!/usr/bin/env bash
# Runs every benchmark and rewrites its section of BENCHMARKS.md:
#   bash bench/run.sh
# Installs what it needs (oha, reportlab and PyJWT in .venv, moto,
# cargo-lambda and zig), builds every function in release mode (x86_64, for
# local timing) and for arm64 (sizes), then:
#   - login timing: wrong password vs unknown email (same cost);
#   - signup-timing: login with/without an account and concealing sign-up
#     free/taken, on the embedded store and on moto;
#   - warm latency of each handler in-process, with PyJWT and ReportLab side by side;
#   - avatar processing of 2 MP and 12 MP JPEGs and PNGs and a camera JPEG
#     next to libvips and Pillow, and the decompression bombs' rejections;
#   - scale: a page of 1,000 vs 100,000 tasks, admin listing with 10,000 users;
#   - throughput of the local server under oha;
#   - the hosted pages' bytes and time to interactive in Chromium;
#   - the posts feed: in-process HIT/MISS, and side by side with FastAPI +
#     Redis under the same oha load;
#   - what a fresh process pays for its first signup and login steps (and,
#     on moto, for a whole login and the SDK's first request);
#   - cold start of every function binary against the binary mode's Runtime
#     API emulator (local::lambda::Runner), on the embedded store and on moto;
#   - arm64 bootstrap sizes and the cost per million requests.
# BENCH_SKIP_ARM64=1 skips the arm64 build (it is a second release build).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=$PWD/.venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r tests/requirements.txt -r bench/requirements.txt cargo-lambda ziglang
# Redis for the posts peer (FastAPI + Redis), from Debian's packages.
command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }
export PATH="$VENV/bin:$HOME/.cargo/bin:$PATH"
command -v oha >/dev/null || cargo install oha --locked

cargo build --release --workspace --bins
./target/release/login-timing
./target/release/reset-timing
./target/release/warm
./target/release/avatar
./target/release/scale
./target/release/throughput
# The hosted pages in Chromium: bytes and time to interactive (bench/pages.py).
command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }
(
  data=$(mktemp -d)
  ADMIN_EMAILS=root@example.com ./target/release/local --port 0 --data-dir "$data" > target/bench-pages.log 2>&1 &
  PAGES_PID=$!
  trap 'kill $PAGES_PID 2>/dev/null; rm -rf "$data"' EXIT
  for _ in $(seq 100); do grep -q 'listening on' target/bench-pages.log && break; sleep 0.1; done
  url=$(grep -oE 'listening on http://[0-9.:]+' target/bench-pages.log | awk '{print $3}')
  "$VENV/bin/python" bench/pages.py "$url" "$data/mail" 15
)

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$VENV/bin/python" tests/e2e/moto_serial.py "$PORT" > target/bench-moto.log 2>&1 &
MOTO_PID=$!
trap 'kill $MOTO_PID 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/moto-api/reset', data=b'')" 2>/dev/null && break
  sleep 0.2
done
MOTO_ENDPOINT="http://127.0.0.1:$PORT" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 \
  ./target/release/signup-timing
MOTO_ENDPOINT="http://127.0.0.1:$PORT" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 \
  ./target/release/first-use
MOTO_ENDPOINT="http://127.0.0.1:$PORT" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 \
  BENCH_RUNS="${BENCH_RUNS:-20}" ./target/release/cold-start
MOTO_ENDPOINT="http://127.0.0.1:$PORT" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 \
  ./target/release/posts-feed

if [ -z "${BENCH_SKIP_ARM64:-}" ]; then
  rustup target add aarch64-unknown-linux-gnu
  # One build per function crate, as `sam build` does (CodeUri is the
  # crate), so each links only the AWS clients its features declare.
  arm64() { (cd "functions/$1" && CARGO_TARGET_DIR="$PWD/../../target/$2" cargo lambda build --release --arm64); }
  # The first builds the dependencies (user-events links three SDK clients).
  # A crate's fat-LTO link runs on one core, so the rest go two at a time,
  # the second slot in its own target dir (cargo locks one per build)
  # seeded with the first's dependencies.
  arm64 user-events arm64
  rm -rf target/arm64-b && cp -r target/arm64 target/arm64-b
  # Only the second slot's own builds are copied back below, never the
  # bootstraps it inherited (they would overwrite the first slot's fresh ones).
  rm -rf target/arm64-b/lambda
  mapfile -t rest < <(ls functions | grep -vx user-events)
  for ((i = 0; i < ${#rest[@]}; i += 2)); do arm64 "${rest[i]}" arm64; done &
  A=$!
  for ((i = 1; i < ${#rest[@]}; i += 2)); do arm64 "${rest[i]}" arm64-b; done
  wait $A
  cp -r target/arm64-b/lambda/. target/arm64/lambda/
fi
./target/release/cost
echo "BENCHMARKS.md updated"
