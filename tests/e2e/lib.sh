# Sourced by the test scripts. start_local LOG [ENV...]: starts
# target/debug/local on a free port with a fresh data folder (and the
# arguments in LOCAL_ARGS, if any); sets URL and SERVER (its pid) and
# removes the data folder when the shell exits.
start_local() {
  local log=$1
  shift
  local data
  data=$(mktemp -d)
  env -u MOTO_ENDPOINT -u AWS_ENDPOINT_URL -u TABLE_NAME "$@" ./target/debug/local --port 0 --data-dir "$data" ${LOCAL_ARGS:-} > "$log" 2>&1 &
  SERVER=$!
  DATA=$data
  # Stopped and waited for: nothing it started (function processes, the
  # consumer) writes anything once the shell has moved on.
  trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "'"$data"'"' EXIT
  URL=""
  # Up to a minute: it is ready in about a second, but a loaded machine
  # (the end of the binary pass) once kept it past 20 s.
  for _ in $(seq 1 600); do
    URL=$(grep -oE 'listening on http://[0-9.:]+' "$log" | awk '{print $3}' || true)
    [ -n "$URL" ] && return 0
    sleep 0.1
  done
  cat "$log" >&2
  return 1
}

# need_chromium: Debian's chromium, installed when missing (as root; else
# says how). The browser suites drive it (Playwright's own download is never
# used: it cannot be fetched here).
need_chromium() {
  command -v chromium >/dev/null && return 0
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is missing: sudo apt-get install chromium" >&2; return 1
  fi
}
