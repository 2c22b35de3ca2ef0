#!/usr/bin/env bash
# Login throughput with the database kept off the hashing core: the production layout
# (PostgreSQL on its own host) scaled down to this 2-core machine. The PostgreSQL server's
# processes are pinned to CPU 1 and the login benchmark (server, hashing pool and clients) to
# CPU 0, so the bare Argon2 rate and the login rate are both measured on one core.
# Usage: ./bench/login-db-off-core.sh   (needs root or the postgres user's processes, taskset)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/attest-target}"

cargo bench -p attest-app --bench login --no-run
bin=$(ls -t "$CARGO_TARGET_DIR"/release/deps/login-* | grep -v '\.d$' | head -n1)

pids=$(pgrep -u postgres || true)
[ -n "$pids" ] || { echo "no PostgreSQL server processes found" >&2; exit 1; }
restore() { for p in $(pgrep -u postgres || true); do taskset -apc 0-"$(($(nproc) - 1))" "$p" >/dev/null 2>&1 || true; done; }
trap restore EXIT
for p in $pids; do taskset -apc 1 "$p" >/dev/null; done
# Backends forked later inherit the postmaster's affinity.
echo "PostgreSQL pinned to CPU 1; benchmark on CPU 0"
taskset -c 0 "$bin" --bench
