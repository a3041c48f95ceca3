#!/usr/bin/env bash
# The /docs page renders in headless Chromium (Debian's package; installed
# here when missing): a screenshot goes to tests/out/docs.png, and the
# rendered DOM must show the operations.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=tests/out
mkdir -p "$OUT"
. tests/e2e/lib.sh
need_chromium
start_local "$OUT/docs-server.log"
FLAGS=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --virtual-time-budget=15000)
chromium "${FLAGS[@]}" --user-data-dir="$(mktemp -d)" --window-size=1280,1000 --screenshot="$OUT/docs.png" "$URL/docs" 2>/dev/null
chromium "${FLAGS[@]}" --user-data-dir="$(mktemp -d)" --dump-dom "$URL/docs" 2>/dev/null > "$OUT/docs.html"
for expected in "User platform (0.1.0)" "Download OpenAPI description" ">admin<" ">sessions<" ">profile<"; do
  grep -q -- "$expected" "$OUT/docs.html" || { echo "docs page did not render '$expected'" >&2; exit 1; }
done
[ "$(stat -c %s "$OUT/docs.png")" -gt 20000 ] || { echo "docs screenshot looks empty" >&2; exit 1; }
echo "docs: 2 passed, 0 failed (screenshot in $OUT/docs.png)"
