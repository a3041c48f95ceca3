#!/usr/bin/env bash
# The hosted pages in headless Chromium, driven by Playwright (tests/e2e/pages.py),
# on both backends: the embedded store, and moto (when MOTO_ENDPOINT names one,
# as tests/run-all.sh does; it is reset first) through the AWS adapters. Installs what it needs:
# Debian's chromium (as root), Playwright from PyPI (tests/requirements.txt;
# its own browser download is never used), axe-core from npm
# (tests/e2e/.axe/package-lock.json). Screenshots go to tests/out/pages*/.
# Cost: ~1 min (two runs of ~20 s each, the npm install, two server starts).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=tests/out
mkdir -p "$OUT"
. tests/e2e/lib.sh
need_chromium
if ! command -v npm >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
  else
    echo "npm is missing: sudo apt-get install npm" >&2; exit 1
  fi
fi
(cd tests/e2e/.axe && npm ci --no-audit --no-fund --silent)
PY=${PYTHON:-python}
# The suite's admin; and its ~30 sign-ups all come from 127.0.0.1, past the
# default of 20 an hour per address.
SERVER_ENV="ADMIN_EMAILS=root@example.com SIGNUPS_PER_IP_PER_HOUR=1000"
[ -x target/debug/local ] || cargo build -p local --locked

(
  start_local "$OUT/pages-server.log" $SERVER_ENV
  "$PY" tests/e2e/pages.py "$URL" "$DATA/mail" "$OUT/pages" > "$OUT/pages-embedded.log" 2>&1 \
    || { cat "$OUT/pages-embedded.log"; exit 1; }
)
sed -n 's/^pages: /pages-embedded: /p' "$OUT/pages-embedded.log"

if [ -n "${MOTO_ENDPOINT:-}" ]; then
  (
    # A stack of the template's own data resources on moto, and its signing
    # key. The template names its bucket, so one moto holds one such stack:
    # moto starts afresh (nothing runs on it after this step in run-all.sh).
    python3 -c "import urllib.request; urllib.request.urlopen('$MOTO_ENDPOINT/moto-api/reset', data=b'')"
    exports=$(AWS_ENDPOINT_URL="$MOTO_ENDPOINT" ./target/debug/local provision 2>"$OUT/pages-provision.log") \
      || { cat "$OUT/pages-provision.log"; exit 1; }
    eval "$exports"
    start_local "$OUT/pages-moto-server.log" $SERVER_ENV STORE=aws \
      AWS_ENDPOINT_URL="$MOTO_ENDPOINT" TABLE_NAME="$TABLE_NAME" BUCKET_NAME="$BUCKET_NAME" \
      QUEUE_URL="$QUEUE_URL" DEAD_LETTER_QUEUE_URL="$DEAD_LETTER_QUEUE_URL" \
      JWT_PRIVATE_KEY_SECRET="$JWT_PRIVATE_KEY_SECRET"
    "$PY" tests/e2e/pages.py "$URL" "$MOTO_ENDPOINT" "$OUT/pages-moto" > "$OUT/pages-moto.log" 2>&1 \
      || { cat "$OUT/pages-moto.log"; exit 1; }
  )
  sed -n 's/^pages: /pages-moto: /p' "$OUT/pages-moto.log"
else
  echo "pages-moto: skipped (no MOTO_ENDPOINT)" >&2
fi
