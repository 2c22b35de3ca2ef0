#!/usr/bin/env bash
# The hourly sweep at scale (issue 7). Seeds one organisation with ATTEST_BENCH_CONTROLS
# controls (default 100,000), each with a monthly activity and 10 runs, into a fresh SQLite data
# directory; then starts the release server twice and prints how long the sweep that runs at
# each start took. The first sweep visits every activity (the seed writes runs directly, so
# none has been scheduled yet); the second visits only those whose next run's day has come.
# Usage: ./bench/sweep.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/attest-target}"
controls="${ATTEST_BENCH_CONTROLS:-100000}"

cargo build --release --locked -p attest-app --bin attest
bin="$CARGO_TARGET_DIR/release/attest"
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
export ATTEST_LOG__LEVEL=info
"$bin" --data-dir "$data" migrate >/dev/null
start=$(date +%s)
echo "copper walrus meadow tune" | "$bin" --data-dir "$data" dev seed --tenant "Sweep Bench" \
  --manager-email sweep@bench.test --controls "$controls" --runs-per-control 10 \
  --audit-events 1000 --risks 10 --password-stdin 2>"$data/seed.log" \
  || { tail -3 "$data/seed.log" >&2; exit 1; }
echo "seeded in $(( $(date +%s) - start )) s"

for round in 1 2; do
  log="$data/serve-$round.log"
  "$bin" --data-dir "$data" serve --listen 127.0.0.1:0 2>"$log" >/dev/null &
  pid=$!
  for _ in $(seq 1 1200); do
    grep -q '"swept the control activities"' "$log" && break
    kill -0 "$pid" 2>/dev/null || { echo "the server stopped:" >&2; tail -5 "$log" >&2; exit 1; }
    sleep 0.5
  done
  kill -TERM "$pid"
  wait "$pid" || true
  line=$(grep '"swept the control activities"' "$log" | head -n1)
  [ -n "$line" ] || { echo "no sweep within 10 minutes" >&2; exit 1; }
  python3 -c 'import json, sys; r = json.loads(sys.argv[2]); print("sweep %s: %.0f ms, %s runs created, %s reminded, %s controls rechecked" % (sys.argv[1], r["elapsed_ms"], r["scheduled"], r["reminded"], r["rechecked"]))' "$round" "$line"
  if grep -q '"level":"ERROR"' "$log"; then echo "server errors:" >&2; grep '"level":"ERROR"' "$log" >&2; exit 1; fi
done
