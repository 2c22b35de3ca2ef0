#!/usr/bin/env bash
# Azurite, blob service only, in memory, on 127.0.0.1:PORT (default 0 = any free port).
# Ready when it prints: "Azurite Blob service successfully listens on http://127.0.0.1:<port>"
# Account devstoreaccount1, endpoint http://127.0.0.1:<port>/devstoreaccount1.
# Usage: run.sh [PORT]   (runs `npm ci` here first if node_modules is missing)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[ -e "$here/node_modules/azurite/package.json" ] \
  || (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
cd "${TMPDIR:-/tmp}"   # in-memory mode writes nothing to its cwd
exec node "$here/node_modules/azurite/dist/src/blob/main.js" \
  --blobHost 127.0.0.1 --blobPort "${1:-0}" \
  --inMemoryPersistence --extentMemoryLimit 512 \
  --silent --loose --skipApiVersionCheck --disableTelemetry
