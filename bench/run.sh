#!/usr/bin/env bash
# Runs every benchmark and rewrites its section of BENCHMARKS.md:
#   bash bench/run.sh
# Release build of every function (x86_64, for local timing), then:
#   - login timing: wrong password vs unknown email (issue: same cost);
#   - warm latency of each handler in-process, and PyJWT side by side;
#   - cold start of every function binary against a Runtime API emulator.
# Needs .venv with PyJWT for the peer comparison (tests/run-all.sh makes it).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace --bins
./target/release/login-timing
./target/release/warm
BENCH_RUNS="${BENCH_RUNS:-20}" ./target/release/cold-start
echo "BENCHMARKS.md updated"
